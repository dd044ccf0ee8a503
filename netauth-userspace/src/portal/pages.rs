//! The portal's pages, rendered from the theme's templates ([`super::theme`]) in the
//! visitor's language ([`super::i18n`]). Templates escape every value that came from a
//! client or the operator; only the 511 and 302 bodies' login URL is put in after
//! rendering, escaped here.

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use minijinja::{Value, context};
use tracing::warn;

use super::theme::Theme;

/// Why a device is captive again, told on the 511 and login pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    Quota,
    Expired,
    Idle,
    Operator,
    Moved,
}

impl Why {
    pub const ALL: [Why; 5] = [
        Why::Quota,
        Why::Expired,
        Why::Idle,
        Why::Operator,
        Why::Moved,
    ];

    /// Its message in the catalogues.
    pub fn key(self) -> &'static str {
        match self {
            Why::Quota => "why-quota",
            Why::Expired => "why-expired",
            Why::Idle => "why-idle",
            Why::Operator => "why-operator",
            Why::Moved => "why-moved",
        }
    }
}

/// The values every page has: its language and direction, and the venue.
fn base(theme: &Theme, lang: usize, venue: &str) -> Value {
    let l = &theme.i18n.langs[lang];
    context! {
        lang => l.tag.clone(),
        dir => if l.rtl { "rtl" } else { "ltr" },
        lang_index => lang,
        venue => venue.to_string(),
    }
}

/// Links to `path` in every language (`?lang=`, and the redirect the page carries).
fn switcher(theme: &Theme, lang: usize, path: &str, redirect: Option<&str>) -> Value {
    let list: Vec<Value> = theme
        .i18n
        .langs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("lang", &l.tag);
            if let Some(r) = redirect {
                q.append_pair("redirect", r);
            }
            context! {
                tag => l.tag.clone(),
                name => l.name.clone(),
                href => format!("{path}?{}", q.finish()),
                current => i == lang,
            }
        })
        .collect();
    Value::from(list)
}

/// Renders `name`; a failure (the theme was checked at start, so none is expected) is
/// logged and answered with a plain page rather than nothing.
fn render(theme: &Theme, name: &str, ctx: Value) -> String {
    theme.render(name, ctx).unwrap_or_else(|e| {
        warn!("rendering the portal page {name} failed: {e:#}");
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Guest network\
</title></head><body><p><a href=\"/login\">Sign in</a></p></body></html>\n"
            .to_string()
    })
}

/// Stands for the login URL while a page is rendered once: it holds a `<`, which no
/// escaped value can, so the page is cut exactly where the URL goes.
const URL_MARK: &str = "<\u{0}url\u{0}>";

/// A page that is the same for every client but for the login URL: rendered once, cut
/// around it, and put together per answer by copying.
pub struct Template {
    /// Literal text, each piece but the last followed by the URL.
    pieces: Vec<String>,
    len: usize,
}

impl Template {
    fn new(page: &str) -> Self {
        let pieces: Vec<String> = page.split(URL_MARK).map(str::to_string).collect();
        let len = pieces.iter().map(String::len).sum();
        Self { pieces, len }
    }

    /// The 511 page in language `lang`, telling `why` if there is a reason.
    pub fn authentication_required(
        theme: &Theme,
        lang: usize,
        venue: &str,
        why: Option<Why>,
    ) -> Self {
        Self::new(&render(
            theme,
            "511.html",
            page_511(theme, lang, venue, why),
        ))
    }

    /// The body of the 302 to the login page.
    pub fn moved(theme: &Theme, lang: usize) -> Self {
        Self::new(&render(theme, "moved.html", page_302(theme, lang)))
    }

    /// The page for `login_url` (escaped here).
    pub fn render(&self, login_url: &str) -> Vec<u8> {
        let url = attr(login_url);
        let mut out = Vec::with_capacity(self.len_with(url.len()));
        self.write(url.as_bytes(), &mut out);
        out
    }

    /// The page's length with an escaped URL of `url_len` bytes.
    pub fn len_with(&self, url_len: usize) -> usize {
        self.len + (self.pieces.len() - 1) * url_len
    }

    /// Appends the page with `escaped_url` (see [`escaped_url`]) to `out`: the HTTP/1
    /// responder writes it straight into its send buffer.
    pub fn write(&self, escaped_url: &[u8], out: &mut Vec<u8>) {
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(escaped_url);
            }
            out.extend_from_slice(piece.as_bytes());
        }
    }
}

/// `url` as [`Template::render`] escapes it for a page's attribute: `url` itself when it
/// holds none of the characters to escape (a login URL is built of form-encoded parts,
/// so it never does), else escaped into `scratch` (a buffer the caller keeps).
pub fn escaped_url<'a>(url: &'a str, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    if !url.bytes().any(|b| matches!(b, b'&' | b'<' | b'>' | b'"')) {
        return url.as_bytes();
    }
    scratch.clear();
    html_escape::encode_double_quoted_attribute_to_vec(url, scratch)
}

fn page_511(theme: &Theme, lang: usize, venue: &str, why: Option<Why>) -> Value {
    context! {
        template => "511.html",
        login_url => Value::from_safe_string(URL_MARK.into()),
        why => why.map(Why::key),
        ..base(theme, lang, venue)
    }
}

fn page_302(theme: &Theme, lang: usize) -> Value {
    context! {
        template => "moved.html",
        login_url => Value::from_safe_string(URL_MARK.into()),
        ..base(theme, lang, "")
    }
}

/// What the login page shows.
pub struct Login<'a> {
    pub venue: &'a str,
    pub terms: &'a str,
    pub method: crate::auth::Method,
    pub redirect: Option<&'a str>,
    /// A message key: why the last attempt was refused.
    pub error: Option<&'static str>,
    pub why: Option<Why>,
    pub token: &'a str,
}

fn login_ctx(theme: &Theme, lang: usize, p: &Login) -> Value {
    // The built-in notice is shown in the visitor's language; the operator's own terms as
    // written.
    let translated;
    let terms = if p.terms == crate::config::DEFAULT_TERMS {
        translated = theme.i18n.message(lang, "default-terms", None);
        translated.as_deref().unwrap_or(p.terms)
    } else {
        p.terms
    };
    let paragraphs: Vec<String> = terms
        .split("\n\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let method = match p.method {
        crate::auth::Method::ClickThrough => "click-through",
        crate::auth::Method::Local => "local",
        crate::auth::Method::Radius => "radius",
        crate::auth::Method::Voucher => "voucher",
    };
    context! {
        template => "login.html",
        terms => paragraphs,
        method => method,
        redirect => p.redirect.map(str::to_string),
        error => p.error,
        why => p.why.map(Why::key),
        token => p.token.to_string(),
        languages => switcher(theme, lang, "/login", p.redirect),
        ..base(theme, lang, p.venue)
    }
}

pub fn login(theme: &Theme, lang: usize, page: &Login) -> String {
    render(theme, "login.html", login_ctx(theme, lang, page))
}

fn status_ctx(
    theme: &Theme,
    lang: usize,
    venue: &str,
    session: Option<&crate::model::SessionView>,
    token: &str,
) -> Value {
    let session = session.map(|s| {
        context! {
            mac => s.mac.to_string(),
            seconds => s.seconds_remaining,
            time_left => human(s.seconds_remaining),
            bytes => s.bytes_remaining,
            data_left => s.bytes_remaining.map(human_bytes),
            randomized => s.randomized_mac,
        }
    });
    context! {
        template => "status.html",
        session => session,
        token => token.to_string(),
        languages => switcher(theme, lang, "/status", None),
        ..base(theme, lang, venue)
    }
}

pub fn status(
    theme: &Theme,
    lang: usize,
    venue: &str,
    session: Option<&crate::model::SessionView>,
    token: &str,
) -> String {
    render(
        theme,
        "status.html",
        status_ctx(theme, lang, venue, session, token),
    )
}

pub fn signed_out(theme: &Theme, lang: usize, venue: &str) -> String {
    let ctx = context! { template => "signed-out.html", ..base(theme, lang, venue) };
    render(theme, "signed-out.html", ctx)
}

/// An error page: `key` and `key-title` in the catalogues.
pub fn error(theme: &Theme, lang: usize, key: &str) -> String {
    let ctx = context! { template => "error.html", error => key, ..base(theme, lang, "") };
    render(theme, "error.html", ctx)
}

/// Every page with sample values, for the theme's check at start.
pub(super) fn samples(theme: &Theme, lang: usize) -> Vec<Value> {
    let session = crate::model::Session {
        ends_ms: 3_600_000,
        quota: crate::model::Quota {
            total: Some(1_000_000),
            ..Default::default()
        },
        ..crate::model::Session::unrecorded("02:00:5e:10:00:01".parse().expect("a MAC"))
    }
    .view(0);
    let mut out = vec![page_302(theme, lang)];
    for why in std::iter::once(None).chain(Why::ALL.map(Some)) {
        out.push(page_511(theme, lang, "V", why));
    }
    for method in [
        crate::auth::Method::ClickThrough,
        crate::auth::Method::Local,
        crate::auth::Method::Radius,
        crate::auth::Method::Voucher,
    ] {
        for (error, why) in [(None, None), (Some("login-expired"), Some(Why::Quota))] {
            let page = Login {
                venue: "V",
                terms: "a\n\nb",
                method,
                redirect: Some("http://example.com/"),
                error,
                why,
                token: "t",
            };
            out.push(login_ctx(theme, lang, &page));
        }
    }
    out.push(status_ctx(theme, lang, "V", Some(&session), "t"));
    out.push(status_ctx(theme, lang, "V", None, "t"));
    out.push(context! { template => "signed-out.html", ..base(theme, lang, "V") });
    for key in super::error::KEYS {
        out.push(context! { template => "error.html", error => key, ..base(theme, lang, "") });
    }
    out
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

    fn theme() -> Theme {
        Theme::load(None).unwrap()
    }

    #[test]
    fn page_511_links_and_refreshes_to_login_without_a_form() {
        let t = theme();
        let url = "http://192.0.2.1:8080/login?redirect=http%3A%2F%2Fexample.com%2F&x=\"<";
        let html = String::from_utf8(
            Template::authentication_required(&t, 0, "Cafe <b>", None).render(url),
        )
        .unwrap();
        let escaped = attr(url);
        assert!(html.contains(&format!("href=\"{escaped}\"")), "{html}");
        assert!(html.contains(&format!("content=\"0; url={escaped}\"")));
        assert!(!html.contains("<form"));
        assert!(!html.contains("<script"));
        assert!(html.contains("Cafe &lt;b&gt;"));
        assert!(html.contains("Network Authentication Required"));
        assert!(!html.contains("class=\"error\""));
        let why = String::from_utf8(
            Template::authentication_required(&t, 0, "V", Some(Why::Quota)).render(url),
        )
        .unwrap();
        assert!(why.contains("Your data allowance is used up."));
    }

    #[test]
    fn pages_are_small_and_labelled_in_every_language() {
        let t = theme();
        for lang in 0..t.i18n.langs.len() {
            let l = &t.i18n.langs[lang];
            for method in [crate::auth::Method::Voucher, crate::auth::Method::Local] {
                let html = login(
                    &t,
                    lang,
                    &Login {
                        venue: "V",
                        terms: crate::config::DEFAULT_TERMS,
                        method,
                        redirect: Some("http://example.com/a"),
                        error: Some("login-invalid-voucher"),
                        why: None,
                        token: "tok",
                    },
                );
                assert!(html.len() < 20_000, "{}: {} bytes", l.tag, html.len());
                let dir = if l.rtl { "rtl" } else { "ltr" };
                assert!(html.contains(&format!("<html lang=\"{}\" dir=\"{dir}\">", l.tag)));
                for field in ["username", "password", "code"] {
                    if html.contains(&format!("name=\"{field}\"")) {
                        assert!(html.contains(&format!("<label for=\"{field}\">")), "{html}");
                    }
                }
                assert!(html.contains("name=\"token\" value=\"tok\""));
                assert!(html.contains("name=\"lang\" value=\""));
                assert!(!html.contains("<script"));
            }
        }
        let ar = t.i18n.by_tag("ar").unwrap();
        assert!(t.i18n.langs[ar].rtl);
        // The built-in terms in the visitor's language, an operator's as written.
        let de = t.i18n.by_tag("de").unwrap();
        let page = |terms| Login {
            venue: "V",
            terms,
            method: crate::auth::Method::ClickThrough,
            redirect: None,
            error: None,
            why: None,
            token: "t",
        };
        let html = login(&t, de, &page(crate::config::DEFAULT_TERMS));
        assert!(html.contains("Mit der Verbindung stimmen Sie zu"), "{html}");
        let html = login(&t, de, &page("House rules apply."));
        assert!(html.contains("House rules apply."));
    }

    #[test]
    fn the_status_page_tells_a_randomised_address_it_may_be_asked_again() {
        let t = theme();
        for (mac, note) in [("02:00:5e:10:00:01", true), ("00:00:5e:00:53:01", false)] {
            let s = crate::model::Session {
                ends_ms: 60_000,
                ..crate::model::Session::unrecorded(mac.parse().unwrap())
            }
            .view(0);
            let html = status(&t, 0, "V", Some(&s), "t");
            assert_eq!(html.contains("id=\"randomized-mac\""), note, "{mac}");
            assert_eq!(html.contains("ask you to sign in again"), note, "{mac}");
        }
    }

    #[test]
    fn client_values_are_escaped() {
        let t = theme();
        let html = login(
            &t,
            0,
            &Login {
                venue: "V",
                terms: "t",
                method: crate::auth::Method::ClickThrough,
                redirect: Some("\"><script>x</script>"),
                error: None,
                why: None,
                token: "\"><b>",
            },
        );
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(
            html.contains("name=\"token\" value=\"&quot;&gt;&lt;b&gt;\""),
            "{html}"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(42), "42s");
        assert_eq!(human(3725), "1h 02m");
        assert_eq!(human(90061), "1d 1h 01m");
    }
}
