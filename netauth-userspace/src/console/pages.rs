//! The console's HTML. Values from the API (MACs, user names, walled-garden entries,
//! notes) are escaped here, where they enter markup. Forms post back to the console with
//! the anti-forgery token; the sessions page refreshes itself (no JavaScript).

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde_json::Value;

use super::history::{self, Sample};
use crate::portal::pages::{human, human_bytes};

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;\
margin:0;background:#f4f5f7;color:#1c1e21}header{background:#1f2a37;color:#fff;padding:.6rem 1rem;\
display:flex;gap:1rem;align-items:center;flex-wrap:wrap}header a{color:#fff;text-decoration:none}\
header .who{margin-left:auto;font-size:.9rem}main{padding:1rem;max-width:72rem}\
table{border-collapse:collapse;background:#fff;width:100%}th,td{padding:.35rem .5rem;\
border-bottom:1px solid #e3e6ea;text-align:left;font-size:.9rem;vertical-align:middle}\
td.n{text-align:right;font-variant-numeric:tabular-nums}form.inline{display:inline}\
input{padding:.3rem;font-size:.9rem}button{padding:.3rem .7rem;border:0;border-radius:4px;\
background:#0a66c2;color:#fff;cursor:pointer}button.danger{background:#b00020}\
.note{background:#fff8e1;border:1px solid #f0d070;padding:.5rem;margin:.5rem 0}\
.card{background:#fff;padding:1rem;margin:.5rem 0;border-radius:6px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{color:#5f6b7a}\
.error{color:#b00020;font-weight:600}";

/// What every signed-in page needs.
pub struct Ctx<'a> {
    pub user: &'a str,
    /// The anti-forgery token for this login's forms.
    pub csrf: &'a str,
    /// A line saying what the last change did.
    pub note: Option<&'a str>,
}

fn page(title: &str, head: &str, ctx: Option<&Ctx>, body: &str) -> String {
    let nav = match ctx {
        Some(c) => format!(
            "<header><strong>netauth</strong><a href=\"/sessions\">Sessions</a>\
<a href=\"/vouchers\">Vouchers</a><a href=\"/walled-garden\">Walled garden</a>\
<a href=\"/status\">Status</a><span class=\"who\">{} \
<form class=\"inline\" method=\"post\" action=\"/logout\">{}<button>Sign out</button></form>\
</span></header>{}",
            text(c.user),
            csrf_field(c.csrf),
            c.note
                .map(|n| format!("<div class=\"note\" role=\"status\">{}</div>", text(n)))
                .unwrap_or_default()
        ),
        None => "<header><strong>netauth</strong></header>".into(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{} - netauth</title>{head}<style>{STYLE}</style></head><body>{nav}<main>{body}</main>\
</body></html>\n",
        text(title)
    )
}

fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        attr(token)
    )
}

/// Percent-encodes `s` for a query value or a path segment (the crate the portal uses).
pub fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn message(title: &str, msg: &str) -> String {
    page(
        title,
        "",
        None,
        &format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/sessions\">Back</a></p>",
            text(title),
            text(msg)
        ),
    )
}

pub fn login(csrf: &str, error: Option<&str>) -> String {
    page(
        "Sign in",
        "",
        None,
        &format!(
            "<h1>Sign in to the console</h1>{}<form class=\"card\" method=\"post\" action=\"/login\">\
{}<p><label>Name<br><input name=\"user\" autocomplete=\"username\" required></label></p>\
<p><label>Password<br><input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\
<p><button>Sign in</button></p></form>",
            error
                .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e)))
                .unwrap_or_default(),
            csrf_field(csrf)
        ),
    )
}

/// Whether a session (JSON view) matches a search: MAC, an address, user name or method.
pub fn matches(s: &Value, q: &str) -> bool {
    let q = q.trim().to_ascii_lowercase();
    let field = |k: &str| s[k].as_str().unwrap_or("").to_ascii_lowercase();
    field("mac").contains(&q)
        || field("username").contains(&q)
        || field("via").contains(&q)
        || s["ips"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i.as_str().unwrap_or("").contains(&q)))
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

pub fn sessions(ctx: &Ctx, list: &[Value], q: &str) -> String {
    let mut rows = String::new();
    for s in list {
        let mac = s["mac"].as_str().unwrap_or("");
        let ips: Vec<&str> = s["ips"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let _ = write!(
            rows,
            "<tr><td><code>{mac}</code></td><td>{ips}</td><td>{via}</td><td>{user}</td>\
<td class=\"n\">{left}</td><td class=\"n\">{down}</td><td class=\"n\">{up}</td><td class=\"n\">{idle}</td>\
<td><form class=\"inline\" method=\"post\" action=\"/sessions/extend\">{csrf}\
<input type=\"hidden\" name=\"mac\" value=\"{mac_a}\"><input name=\"duration\" value=\"1h\" size=\"4\" aria-label=\"extend {mac_a} by\">\
<button>Extend</button></form> \
<form class=\"inline\" method=\"post\" action=\"/sessions/revoke\">{csrf}\
<input type=\"hidden\" name=\"mac\" value=\"{mac_a}\"><button class=\"danger\" name=\"revoke\" value=\"{mac_a}\">Revoke</button></form></td></tr>",
            mac = text(mac),
            mac_a = attr(mac),
            ips = text(&ips.join(", ")),
            via = text(s["via"].as_str().unwrap_or("")),
            user = text(s["username"].as_str().unwrap_or("")),
            left = human(n(&s["seconds_remaining"])),
            down = human_bytes(n(&s["down_bytes"])),
            up = human_bytes(n(&s["up_bytes"])),
            idle = human(n(&s["idle_s"])),
            csrf = csrf_field(ctx.csrf),
        );
    }
    let body = format!(
        "<h1>Online: {count}</h1><form method=\"get\" action=\"/sessions\">\
<input name=\"q\" value=\"{q}\" placeholder=\"MAC, address, user\" aria-label=\"search\"> <button>Search</button></form>\
<p class=\"muted\">Counters refresh every 10 seconds.</p>\
<table><thead><tr><th>MAC</th><th>Addresses</th><th>How</th><th>User</th><th>Time left</th>\
<th>Down</th><th>Up</th><th>Idle</th><th></th></tr></thead><tbody>{rows}</tbody></table>",
        count = list.len(),
        q = attr(q),
    );
    page(
        "Sessions",
        "<meta http-equiv=\"refresh\" content=\"10\">",
        Some(ctx),
        &body,
    )
}

pub fn vouchers(ctx: &Ctx, list: &[Value]) -> String {
    let mut rows = String::new();
    for v in list {
        let code = v["code"].as_str().unwrap_or("");
        let state = if v["revoked"].as_bool() == Some(true) {
            "revoked"
        } else if v["first_used_ms"].is_null() {
            "unused"
        } else {
            "in use"
        };
        let revoke = if state == "revoked" {
            String::new()
        } else {
            format!(
                "<form class=\"inline\" method=\"post\" action=\"/vouchers/revoke\">{}\
<input type=\"hidden\" name=\"code\" value=\"{}\"><button class=\"danger\">Revoke</button></form>",
                csrf_field(ctx.csrf),
                attr(code)
            )
        };
        let _ = write!(
            rows,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{}/{}</td><td>{state}</td><td>{revoke}</td></tr>",
            text(code),
            human(n(&v["duration_s"])),
            v["quota"]
                .as_u64()
                .map(human_bytes)
                .unwrap_or_else(|| "-".into()),
            n(&v["devices_used"]),
            n(&v["devices"]),
        );
    }
    let body = format!(
        "<h1>Vouchers</h1><form class=\"card\" method=\"post\" action=\"/vouchers\">{}\
<label>How many <input name=\"count\" value=\"10\" size=\"4\"></label> \
<label>Valid for <input name=\"duration\" value=\"1d\" size=\"5\"></label> \
<label>Data <input name=\"quota\" placeholder=\"unlimited\" size=\"7\"></label> \
<label>Devices each <input name=\"devices\" value=\"1\" size=\"3\"></label> \
<button>Create and print</button></form>\
<table><thead><tr><th>Code</th><th>Valid for</th><th>Data</th><th>Devices</th><th>State</th>\
<th></th></tr></thead><tbody>{rows}</tbody></table>",
        csrf_field(ctx.csrf)
    );
    page("Vouchers", "", Some(ctx), &body)
}

pub fn walled(ctx: &Ctx, v: &Value) -> String {
    let mut rows = String::new();
    for e in v["entries"].as_array().into_iter().flatten() {
        let entry = e["entry"].as_str().unwrap_or("");
        let addrs: Vec<&str> = e["addresses"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let remove = if e["source"].as_str() == Some("config") {
            "<span class=\"muted\">from the config file</span>".to_string()
        } else {
            format!(
                "<form class=\"inline\" method=\"post\" action=\"/walled-garden/remove\">{}\
<input type=\"hidden\" name=\"entry\" value=\"{}\"><button class=\"danger\">Remove</button></form>",
                csrf_field(ctx.csrf),
                attr(entry)
            )
        };
        let _ = write!(
            rows,
            "<tr><td><code>{}</code></td><td>{}</td><td>{remove}</td></tr>",
            text(entry),
            text(&addrs.join(", "))
        );
    }
    let body = format!(
        "<h1>Walled garden</h1><p>Destinations captive devices may reach before they sign in.</p>\
<form class=\"card\" method=\"post\" action=\"/walled-garden/add\">{}\
<label>Host name or prefix <input name=\"entry\" placeholder=\"payments.example.com\"></label> \
<button>Add</button></form><table><thead><tr><th>Entry</th><th>Addresses</th><th></th></tr>\
</thead><tbody>{rows}</tbody></table>",
        csrf_field(ctx.csrf)
    );
    page("Walled garden", "", Some(ctx), &body)
}

fn bits(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.1} Gbit/s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1} Mbit/s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} kbit/s", v / 1e3)
    } else {
        format!("{v:.0} bit/s")
    }
}

/// `v`: `/v1/status`; `health`: the RADIUS and store metrics (name, value).
pub fn status(ctx: &Ctx, v: &Value, health: &[(String, String)], samples: &[Sample]) -> String {
    let show = |k: &str| -> String {
        match &v[k] {
            Value::Null => "-".into(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let mut facts = String::new();
    for (label, key) in [
        ("Interface", "lan"),
        ("XDP mode", "xdp_mode"),
        ("Why that mode", "xdp_mode_reason"),
        ("Signed-in devices", "sessions"),
        ("Map entries", "map_entries"),
        ("Login method", "auth_method"),
        ("RADIUS servers", "radius_servers"),
        ("Version", "version"),
    ] {
        let _ = write!(
            facts,
            "<dt>{}</dt><dd>{}</dd>",
            text(label),
            text(&show(key))
        );
    }
    let store = &v["store"];
    let _ = write!(
        facts,
        "<dt>Store</dt><dd>{}</dd><dt>Ends not yet recorded</dt><dd>{}</dd>",
        if store["healthy"].as_bool() == Some(false) {
            "NOT HEALTHY: changes are not being recorded"
        } else {
            "healthy"
        },
        text(&store["pending_ends"].to_string()),
    );
    let mut radius = String::new();
    for (k, val) in health {
        let _ = write!(radius, "<dt>{}</dt><dd>{}</dd>", text(k), text(val));
    }
    let now = crate::clock::real_wall_ms().max(0) as u64;
    let clients: Vec<(u64, f64)> = samples
        .iter()
        .map(|s| (s.at_ms, s.clients as f64))
        .collect();
    let rates = history::rates(samples);
    let down: Vec<(u64, f64)> = rates.iter().map(|(t, d, _)| (*t, *d)).collect();
    let up: Vec<(u64, f64)> = rates.iter().map(|(t, _, u)| (*t, *u)).collect();
    let body = format!(
        "<h1>Status</h1><div class=\"card\"><dl>{facts}{radius}</dl></div>\
<h2>Last 24 hours</h2><div class=\"card\">{}</div><div class=\"card\">{}</div>\
<p class=\"muted\">One sample a minute since netauth started.</p>",
        history::chart(
            "Signed-in devices",
            now,
            &[("#0a66c2", "devices", clients)],
            |v| format!("{v:.0}")
        ),
        history::chart(
            "Traffic",
            now,
            &[("#0a66c2", "down", down), ("#c26a0a", "up", up)],
            bits
        ),
    );
    page("Status", "", Some(ctx), &body)
}
