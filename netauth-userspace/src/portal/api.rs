//! RFC 8908 Captive Portal API (`GET /api/captive`), served on the HTTPS listener only.
//! The client is the MAC behind the connection, exactly as the enforcement point sees it,
//! so `captive` turns false the moment the login writes the map.

use axum::{
    Extension,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{AppState, ConnInfo};
use crate::model::{MAX_DURATION, SessionView, Via};

pub const MEDIA_TYPE: &str = "application/captive+json";

/// The media ranges of the Accept headers, lower-cased, without those of quality 0.
fn acceptable(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q_zero = parts.any(|p| {
                p.trim()
                    .to_ascii_lowercase()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (!q_zero).then_some(media)
        })
}

/// Whether an Accept header admits `application/captive+json` (absent: yes). Tolerates
/// lists, parameters, wildcards and case (several portals compare the whole header).
pub fn accepts_captive_json(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::ACCEPT)
        || acceptable(headers).any(|m| matches!(m.as_str(), MEDIA_TYPE | "application/*" | "*/*"))
}

/// A browser rather than an RFC 8908 client: it takes HTML and does not name the API's
/// media type (browsers send `text/html,...,*/*;q=0.8`; API clients name
/// `application/captive+json`).
fn browser(headers: &HeaderMap) -> bool {
    let mut html = false;
    for m in acceptable(headers) {
        match m.as_str() {
            MEDIA_TYPE => return false,
            "text/html" | "application/xhtml+xml" => html = true,
            _ => {}
        }
    }
    html
}

pub async fn captive(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
) -> Response {
    if Some(conn.local.port()) != portal.api.as_ref().map(|a| a.port) {
        // RFC 8908: the API is only served over TLS.
        return (
            StatusCode::NOT_FOUND,
            "the Captive Portal API is served over HTTPS",
        )
            .into_response();
    }
    if browser(&headers) {
        // A person who opened the API URI in a browser: show them the portal.
        return (
            StatusCode::SEE_OTHER,
            [
                (
                    header::LOCATION,
                    HeaderValue::from_str(&portal.https_portal_url(&conn, "/login"))
                        .unwrap_or_else(|_| HeaderValue::from_static("/login")),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response();
    }
    if !accepts_captive_json(&headers) {
        return (
            StatusCode::NOT_ACCEPTABLE,
            format!("this resource is {MEDIA_TYPE}"),
        )
            .into_response();
    }
    let session = match portal.identify(&conn) {
        Ok((mac, _)) => portal.sessions.get(mac, crate::clock::now()),
        Err(_) => None,
    };
    let mut body = Map::new();
    body.insert("captive".into(), json!(session.is_none()));
    body.insert(
        "user-portal-url".into(),
        json!(portal.https_portal_url(&conn, "/login")),
    );
    if let Some(url) = portal.api.as_ref().and_then(|a| a.venue_info_url.as_ref()) {
        body.insert("venue-info-url".into(), json!(url));
    }
    if let Some(s) = &session {
        // RFC 8908 §5: seconds-remaining and bytes-remaining only for a session limited in
        // time or data; can-extend-session only when the user can extend it (by logging
        // in again on the portal: a click-through, local or RADIUS login renews; a voucher's
        // time runs from its first use; trusted and operator-made sessions are not theirs).
        let limited = time_limited(s);
        if limited {
            body.insert("seconds-remaining".into(), json!(s.seconds_remaining));
        }
        if let Some(b) = s.bytes_remaining {
            body.insert("bytes-remaining".into(), json!(b));
        }
        let renewable = matches!(s.via, Via::ClickThrough | Via::Local | Via::Radius);
        body.insert("can-extend-session".into(), json!(limited && renewable));
    } else {
        body.insert("can-extend-session".into(), json!(false));
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Value::Object(body).to_string(),
    )
        .into_response()
}

/// Whether the session ends at a time (trusted devices and `--for 10y` last the longest
/// duration netauth takes, which stands for "no time limit").
fn time_limited(s: &SessionView) -> bool {
    s.expires.saturating_sub(s.started).saturating_add(1) < MAX_DURATION.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        accepts_captive_json(&h)
    }

    #[test]
    fn accept_negotiation_is_tolerant() {
        assert!(accepts_captive_json(&HeaderMap::new()));
        assert!(accept("application/captive+json"));
        assert!(accept("application/captive+json, */*"));
        assert!(accept("text/html;q=0.9, Application/Captive+JSON;q=0.8"));
        assert!(accept("application/*"));
        assert!(accept("*/*"));
        assert!(!accept("text/html"));
        assert!(!accept("application/captive+json;q=0, text/html"));
    }

    #[test]
    fn browsers_are_told_apart_from_api_clients() {
        let html = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            browser(&h)
        };
        assert!(html(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(html("TEXT/HTML"));
        assert!(!html("application/json"));
        assert!(!html("text/html;q=0, application/json"));
        assert!(!html("application/captive+json, text/html"));
        assert!(!html("*/*"));
        assert!(!browser(&HeaderMap::new()));
    }
}
