//! The HTML the portal shows. Every value that came from a client or the operator is
//! escaped here, at the one place it enters markup.

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;\
margin:0;background:#f4f5f7;color:#1c1e21}main{max-width:32rem;margin:0 auto;padding:1.5rem}\
h1{font-size:1.5rem;margin:.5rem 0 1rem}.card{background:#fff;border-radius:12px;padding:1.25rem;\
box-shadow:0 1px 3px rgba(0,0,0,.12)}.terms{max-height:40vh;overflow:auto;font-size:.95rem;\
line-height:1.45}button,.button{display:block;width:100%;box-sizing:border-box;font-size:1.1rem;\
padding:.9rem;margin-top:1rem;border:0;border-radius:8px;background:#0a66c2;color:#fff;\
text-align:center;text-decoration:none}.secondary{background:#5f6b7a}.error{color:#b00020;\
font-weight:600}.muted{color:#5f6b7a;font-size:.9rem}";

fn layout(title: &str, head_extra: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title}</title>{head_extra}<style>{STYLE}</style></head>\
<body><main>{body}</main></body></html>\n",
        title = text(title),
    )
}

/// The RFC 6585 511 body: a link and a meta refresh to the login page, no form.
pub fn authentication_required(venue: &str, login_url: &str, why: Option<&str>) -> String {
    authentication_required_page(venue, &attr(login_url), &why_html(why))
}

/// The 511 page around its parts: `url` (already escaped for an attribute) and `why`
/// (markup).
fn authentication_required_page(venue: &str, url: &str, why: &str) -> String {
    layout(
        "Network Authentication Required",
        &format!("<meta http-equiv=\"refresh\" content=\"0; url={url}\">"),
        &format!(
            "<h1>Network Authentication Required</h1><div class=\"card\">{why}\
<p>You need to sign in to {venue} before you can use the network.</p>\
<p><a class=\"button\" href=\"{url}\">Sign in</a></p></div>",
            venue = text(venue),
        ),
    )
}

/// The markup around the "why" sentence.
const WHY: (&str, &str) = ("<p class=\"error\">", "</p>");

fn why_html(why: Option<&str>) -> String {
    why.map(|w| format!("{}{}{}", WHY.0, text(w), WHY.1))
        .unwrap_or_default()
}

/// The short body that goes with a 302 to the login page.
pub fn moved(login_url: &str) -> String {
    moved_page(&attr(login_url))
}

fn moved_page(url: &str) -> String {
    layout(
        "Sign in required",
        "",
        &format!("<p><a href=\"{url}\">Sign in to use this network</a></p>"),
    )
}

/// Where a [`Template`] takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// The login URL, escaped for an attribute.
    Url,
    /// The "why you are captive" paragraph.
    Why,
}

impl Slot {
    /// Stands for the slot while the page is rendered once: it holds a `<`, which no
    /// escaped value can, so the page is cut exactly where the slot was.
    const fn mark(self) -> &'static str {
        match self {
            Slot::Url => "<\u{0}url\u{0}>",
            Slot::Why => "<\u{0}why\u{0}>",
        }
    }
}

/// A page that is the same for every client but for the login URL and the "why"
/// sentence: rendered once, cut around those, and put together per answer by copying.
pub struct Template {
    /// Literal text, then the slot that follows it; the last piece has none.
    pieces: Vec<(String, Option<Slot>)>,
    len: usize,
}

impl Template {
    fn new(page: &str) -> Self {
        let mut pieces = Vec::new();
        let mut rest = page;
        loop {
            let next = [Slot::Url, Slot::Why]
                .into_iter()
                .filter_map(|s| rest.find(s.mark()).map(|i| (i, s)))
                .min_by_key(|(i, _)| *i);
            match next {
                Some((i, slot)) => {
                    pieces.push((rest[..i].to_string(), Some(slot)));
                    rest = &rest[i + slot.mark().len()..];
                }
                None => {
                    pieces.push((rest.to_string(), None));
                    break;
                }
            }
        }
        let len = pieces.iter().map(|(p, _)| p.len()).sum();
        Self { pieces, len }
    }

    /// The 511 page of `venue`.
    pub fn authentication_required(venue: &str) -> Self {
        Self::new(&authentication_required_page(
            venue,
            Slot::Url.mark(),
            Slot::Why.mark(),
        ))
    }

    /// The body of the 302 to the login page.
    pub fn moved() -> Self {
        Self::new(&moved_page(Slot::Url.mark()))
    }

    /// The page for `login_url` (escaped here) and `why` (a sentence, escaped here).
    pub fn render(&self, login_url: &str, why: Option<&str>) -> Vec<u8> {
        let url = attr(login_url);
        let why = why.map(text);
        let mut out = Vec::with_capacity(self.len + 2 * url.len() + 128);
        for (piece, slot) in &self.pieces {
            out.extend_from_slice(piece.as_bytes());
            match slot {
                Some(Slot::Url) => out.extend_from_slice(url.as_bytes()),
                Some(Slot::Why) => {
                    if let Some(w) = &why {
                        out.extend_from_slice(WHY.0.as_bytes());
                        out.extend_from_slice(w.as_bytes());
                        out.extend_from_slice(WHY.1.as_bytes());
                    }
                }
                None => {}
            }
        }
        out
    }
}

/// The hidden form field carrying the anti-forgery token.
fn token_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"token\" value=\"{}\">",
        attr(token)
    )
}

pub fn login(
    venue: &str,
    terms: &str,
    method: crate::auth::Method,
    redirect: Option<&str>,
    error: Option<&str>,
    token: &str,
) -> String {
    let fields = match method {
        crate::auth::Method::ClickThrough => String::new(),
        crate::auth::Method::Local | crate::auth::Method::Radius => "<label>User name<br><input name=\"username\" autocomplete=\"username\" \
required style=\"width:100%;font-size:1.1rem;padding:.5rem;box-sizing:border-box\"></label><br>\
<label>Password<br><input name=\"password\" type=\"password\" autocomplete=\"current-password\" required \
style=\"width:100%;font-size:1.1rem;padding:.5rem;box-sizing:border-box\"></label>"
            .to_string(),
        crate::auth::Method::Voucher => "<label>Voucher code<br><input name=\"code\" autocapitalize=\"characters\" \
autocomplete=\"off\" placeholder=\"XXXX-XXXX-XXXX\" required \
style=\"width:100%;font-size:1.1rem;padding:.5rem;box-sizing:border-box\"></label>"
            .to_string(),
    };
    let paragraphs: String = terms
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", text(p)))
        .collect();
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e)))
        .unwrap_or_default();
    let redirect = redirect
        .map(|r| {
            format!(
                "<input type=\"hidden\" name=\"redirect\" value=\"{}\">",
                attr(r)
            )
        })
        .unwrap_or_default();
    layout(
        &format!("Sign in to {venue}"),
        "",
        &format!(
            "<h1>Welcome to {venue}</h1><div class=\"card\">{error}\
<h2>Terms of use</h2><div class=\"terms\">{paragraphs}</div>\
<form method=\"post\" action=\"/login\">{token}{redirect}{fields}\
<button type=\"submit\" name=\"accept\" value=\"1\">Accept and connect</button></form>\
</div>",
            venue = text(venue),
            token = token_field(token),
        ),
    )
}

/// The status page's note for a device on a locally administered (randomised) address.
const RANDOMIZED_NOTE: &str = "<p class=\"note\" id=\"randomized-mac\">Your device uses a private \
(randomised) address on this network. If you leave and join the network again, it may use a new \
address and ask you to sign in again.</p>";

pub fn status(venue: &str, session: Option<&crate::model::SessionView>, token: &str) -> String {
    let body = match session {
        Some(s) => format!(
            "<h1>You are online</h1><div class=\"card\"><p>Your device ({mac}) is signed in \
to {venue}.</p><p>Time left: <strong id=\"time-left\" data-seconds=\"{secs}\">{left}</strong></p>{data}{random}\
<form method=\"post\" action=\"/logout\">{token}<button class=\"secondary\" type=\"submit\">Log out</button></form></div>",
            token = token_field(token),
            mac = text(&s.mac.to_string()),
            venue = text(venue),
            secs = s.seconds_remaining,
            left = human(s.seconds_remaining),
            data = s
                .bytes_remaining
                .map(|b| format!(
                    "<p>Data left: <strong id=\"data-left\" data-bytes=\"{b}\">{}</strong></p>",
                    human_bytes(b)
                ))
                .unwrap_or_default(),
            random = if s.randomized_mac {
                RANDOMIZED_NOTE
            } else {
                ""
            },
        ),
        None => format!(
            "<h1>Not signed in</h1><div class=\"card\"><p>Your device is not signed in to {}.</p>\
<a class=\"button\" href=\"/login\">Sign in</a></div>",
            text(venue)
        ),
    };
    layout("Session status", "", &body)
}

pub fn signed_out(venue: &str) -> String {
    layout(
        "Signed out",
        "",
        &format!(
            "<h1>Signed out</h1><div class=\"card\"><p>Your device is no longer signed in to {}.</p>\
<a class=\"button\" href=\"/login\">Sign in again</a></div>",
            text(venue)
        ),
    )
}

pub fn error(title: &str, message: &str) -> String {
    layout(
        title,
        "",
        &format!(
            "<h1>{}</h1><div class=\"card\"><p>{}</p></div>",
            text(title),
            text(message)
        ),
    )
}

/// A printable sheet of voucher codes, one card each.
pub fn voucher_sheet(
    codes: &[String],
    duration: std::time::Duration,
    quota: Option<u64>,
    devices: u32,
) -> String {
    let terms = format!(
        "Valid for {} from first use{}{}",
        human(duration.as_secs()),
        quota
            .map(|q| format!(", {} of data", human_bytes(q)))
            .unwrap_or_default(),
        if devices > 1 {
            format!(", up to {devices} devices")
        } else {
            String::new()
        }
    );
    let cards: String = codes
        .iter()
        .map(|c| {
            format!(
                "<div class=\"v\"><div class=\"c\">{}</div><div class=\"t\">{}</div></div>",
                text(c),
                text(&terms)
            )
        })
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Wi-Fi vouchers</title>\
<style>body{{font-family:system-ui,sans-serif}}.v{{display:inline-block;width:45%;margin:1%;padding:1em;\
border:1px dashed #555;box-sizing:border-box;page-break-inside:avoid}}.c{{font:bold 1.6em monospace;\
letter-spacing:.08em}}.t{{color:#444;margin-top:.4em}}</style></head><body>{cards}</body></html>\n"
    )
}

/// "1.5 GB", "300 kB".
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// "1h 05m", "42s": readable on a phone.
pub fn human(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s:02}s"),
        (0, _, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h}h {m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_511_links_and_refreshes_to_login_without_a_form() {
        let url = "http://192.0.2.1:8080/login?redirect=http%3A%2F%2Fexample.com%2F";
        let html = authentication_required("Cafe <b>", url, None);
        assert!(html.contains(&format!("href=\"{url}\"")));
        assert!(html.contains(&format!("content=\"0; url={url}\"")));
        assert!(!html.contains("<form"));
        assert!(html.contains("Cafe &lt;b&gt;"));
    }

    #[test]
    fn templates_render_the_pages_they_were_cut_from() {
        let venue = "Caf\u{e9} <b> & \"Bar\" <\u{0}url\u{0}>";
        let urls = [
            "http://192.0.2.1:8080/login?redirect=http%3A%2F%2Fexample.com%2F",
            "http://[2001:db8::1]:8080/login?redirect=x\"><script>",
        ];
        let page = Template::authentication_required(venue);
        let probe = Template::moved();
        for url in urls {
            for why in [None, Some("Your <session> ended & \"why\"")] {
                assert_eq!(
                    String::from_utf8(page.render(url, why)).unwrap(),
                    authentication_required(venue, url, why)
                );
            }
            assert_eq!(
                String::from_utf8(probe.render(url, None)).unwrap(),
                moved(url)
            );
        }
    }

    #[test]
    fn the_status_page_tells_a_randomised_address_it_may_be_asked_again() {
        for (mac, note) in [("02:00:5e:10:00:01", true), ("00:00:5e:00:53:01", false)] {
            let s = crate::model::Session {
                ends_ms: 60_000,
                ..crate::model::Session::unrecorded(mac.parse().unwrap())
            }
            .view(0);
            let html = status("V", Some(&s), "t");
            assert_eq!(html.contains("id=\"randomized-mac\""), note, "{mac}");
            assert_eq!(html.contains("ask you to sign in again"), note, "{mac}");
        }
    }

    #[test]
    fn client_values_are_escaped() {
        let html = login(
            "V",
            "t",
            crate::auth::Method::ClickThrough,
            Some("\"><script>x</script>"),
            None,
            "\"><b>",
        );
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("name=\"token\" value=\"&quot;&gt;&lt;b&gt;\""));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(42), "42s");
        assert_eq!(human(3725), "1h 02m");
        assert_eq!(human(90061), "1d 1h 01m");
    }
}
