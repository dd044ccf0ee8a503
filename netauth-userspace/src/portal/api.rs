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

pub const MEDIA_TYPE: &str = "application/captive+json";

/// Whether an Accept header admits `application/captive+json` (absent: yes). Tolerates
/// lists, parameters, wildcards and case (several portals compare the whole header).
pub fn accepts_captive_json(headers: &HeaderMap) -> bool {
    let mut any = false;
    for value in headers.get_all(header::ACCEPT) {
        any = true;
        let Ok(v) = value.to_str() else { continue };
        for range in v.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q_zero = parts.any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if !q_zero && matches!(media.as_str(), MEDIA_TYPE | "application/*" | "*/*") {
                return true;
            }
        }
    }
    !any
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
    // Logging in again on the portal renews a session.
    body.insert("can-extend-session".into(), json!(session.is_some()));
    if let Some(s) = &session {
        body.insert("seconds-remaining".into(), json!(s.seconds_remaining));
        if let Some(b) = s.bytes_remaining {
            body.insert("bytes-remaining".into(), json!(b));
        }
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
}
