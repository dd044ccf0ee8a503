//! `POST /v1/sessions` with many sessions: a JSON array of the objects a single allow
//! takes, or NDJSON (`application/x-ndjson`, one object per line; blank lines are
//! skipped but counted). The whole batch is checked before anything changes (a bad item
//! is refused with 400 naming its index or line), then authorized whole or not at all
//! ([`crate::sessions::Sessions::authorize_many`]); the answer is a
//! [`BatchSummary`], given once every session of the batch is on disk.

use std::{collections::HashMap, fmt, sync::Arc};

use axum::{
    Json,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use hyper::body::Bytes;
use netauth_common::api::{AllowRequest, BatchSummary, MAX_BATCH, NDJSON};

use super::{AdminState, ApiError, sessions::grant_of};
use crate::model::{Grant, Mac};

/// Largest request body of `POST /v1/sessions`: room for [`MAX_BATCH`] sessions with
/// every field given.
pub(super) const MAX_BODY: usize = 32 << 20;

/// How a batch is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Array,
    Ndjson,
}

/// Where an item of a batch was: its index in an array (from 0), its line in NDJSON
/// (from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Index(usize),
    Line(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Index(i) => write!(f, "index {i}"),
            Place::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// Which batch a request to `POST /v1/sessions` carries; `None`: one session, taken as
/// it always was. NDJSON by its content type; an array by a JSON content type and a body
/// that starts with `[`.
pub(super) fn kind(content_type: Option<&HeaderValue>, body: &[u8]) -> Option<Kind> {
    let essence = content_type
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if essence == NDJSON {
        return Some(Kind::Ndjson);
    }
    let json = essence == "application/json" || essence.ends_with("+json");
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    (json && first == Some(&b'[')).then_some(Kind::Array)
}

/// A serde_json message without its " at line L column C" (said by the caller instead).
fn bare(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    msg.strip_suffix(&suffix).unwrap_or(&msg).to_string()
}

/// The requests of a batch, each with its place.
fn items(kind: Kind, body: &[u8]) -> Result<Vec<(Place, AllowRequest)>, ApiError> {
    let too_many = || ApiError::BadRequest(format!("a batch holds at most {MAX_BATCH} sessions"));
    match kind {
        Kind::Array => {
            let at = |e: &serde_json::Error| format!("line {}, column {}", e.line(), e.column());
            let mut de = serde_json::Deserializer::from_slice(body);
            let reqs: Vec<AllowRequest> =
                serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let inner = e.inner();
                    let index = e.path().iter().next().and_then(|s| match s {
                        serde_path_to_error::Segment::Seq { index } => Some(*index),
                        _ => None,
                    });
                    ApiError::BadRequest(match index {
                        Some(i) => format!("index {i} ({}): {}", at(inner), bare(inner)),
                        None => format!("{}: {}", at(inner), bare(inner)),
                    })
                })?;
            de.end()
                .map_err(|e| ApiError::BadRequest(format!("{}: {}", at(&e), bare(&e))))?;
            if reqs.len() > MAX_BATCH {
                return Err(too_many());
            }
            Ok(reqs
                .into_iter()
                .enumerate()
                .map(|(i, r)| (Place::Index(i), r))
                .collect())
        }
        Kind::Ndjson => {
            let mut out = Vec::new();
            for (i, line) in body.split(|b| *b == b'\n').enumerate() {
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                if out.len() == MAX_BATCH {
                    return Err(too_many());
                }
                let place = Place::Line(i + 1);
                let r = serde_json::from_slice(line).map_err(|e| {
                    ApiError::BadRequest(format!("{place}, column {}: {}", e.column(), bare(&e)))
                })?;
                out.push((place, r));
            }
            Ok(out)
        }
    }
}

/// The batch checked whole: every item's MAC, durations and byte counts, and no MAC
/// twice. The first problem is refused, naming its place.
pub(super) fn parse(kind: Kind, body: &[u8]) -> Result<Vec<(Mac, Grant)>, ApiError> {
    let items = items(kind, body)?;
    let mut first: HashMap<Mac, Place> = HashMap::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for (place, r) in &items {
        let (mac, grant) = grant_of(r).map_err(|e| match e {
            ApiError::BadRequest(m) => ApiError::BadRequest(format!("{place}: {m}")),
            other => other,
        })?;
        if let Some(earlier) = first.insert(mac, *place) {
            return Err(ApiError::BadRequest(format!(
                "{place}: {mac} is already at {earlier}; a batch names each device once"
            )));
        }
        out.push((mac, grant));
    }
    Ok(out)
}

/// Checks and authorizes a batch; 201 with what it did.
pub(super) async fn allow(
    st: Arc<AdminState>,
    kind: Kind,
    body: Bytes,
) -> Result<Response, ApiError> {
    let sessions = st.sessions.clone();
    // Parsing megabytes, map updates and an fsynced store write: off the async workers.
    let (done, macs) = tokio::task::spawn_blocking(move || {
        let grants = parse(kind, &body)?;
        drop(body);
        let done = sessions.authorize_many(&grants, crate::clock::now());
        let macs: Vec<Mac> = grants.iter().map(|(m, _)| *m).collect();
        drop(grants);
        crate::memory::give_back();
        Ok::<_, ApiError>((done?, macs))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    super::sessions::adopt_neighbours(&st, &macs).await;
    let summary = BatchSummary {
        authorized: (done.new + done.renewed) as u64,
        new: done.new as u64,
        renewed: done.renewed as u64,
    };
    Ok((StatusCode::CREATED, Json(summary)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    fn message(r: Result<Vec<(Mac, Grant)>, ApiError>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_kind_follows_the_content_type_and_the_body() {
        assert_eq!(kind(Some(&ct(NDJSON)), b"{}"), Some(Kind::Ndjson));
        assert_eq!(
            kind(Some(&ct("Application/X-NDJSON; charset=utf-8")), b""),
            Some(Kind::Ndjson)
        );
        assert_eq!(
            kind(Some(&ct("application/json")), b" \n[{}]"),
            Some(Kind::Array)
        );
        assert_eq!(
            kind(Some(&ct("application/vnd.x+json")), b"[]"),
            Some(Kind::Array)
        );
        // One object, as ever; an array without a JSON content type is refused as a
        // single allow would be.
        assert_eq!(kind(Some(&ct("application/json")), b"{\"mac\":1}"), None);
        assert_eq!(kind(Some(&ct("text/plain")), b"[]"), None);
        assert_eq!(kind(None, b"[]"), None);
    }

    #[test]
    fn ndjson_lines_are_counted_with_blank_ones() {
        let body = b"{\"mac\":\"02:00:00:00:00:01\"}\n\n  \r\n{\"mac\":\"02:00:00:00:00:02\",\"duration\":\"2h\",\"quota\":\"5G\"}\r\n";
        let grants = parse(Kind::Ndjson, body).unwrap();
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[1].0, "02:00:00:00:00:02".parse().unwrap());
        assert_eq!(
            grants[1].1.duration,
            Some(std::time::Duration::from_secs(7200))
        );
        assert_eq!(grants[1].1.quota.total, Some(5_000_000_000));
        let bad = b"{\"mac\":\"02:00:00:00:00:01\"}\n\n{\"mac\":\"02:00:00:00:00:0g\"}\n";
        let m = message(parse(Kind::Ndjson, bad));
        assert!(m.starts_with("line 3: "), "{m}");
        let bad = b"{\"mac\":\"02:00:00:00:00:01\"}\n{\"mac\":\"02:00:00:00:00:02\",\"duraton\":\"1h\"}\n";
        let m = message(parse(Kind::Ndjson, bad));
        assert!(m.starts_with("line 2, column "), "{m}");
        assert!(m.contains("unknown field `duraton`"), "{m}");
        assert!(!m.contains("at line"), "{m}");
        let m = message(parse(Kind::Ndjson, b"{\"mac\":\"02:00:00:00:00:01\"\n"));
        assert!(m.starts_with("line 1, column "), "{m}");
    }

    #[test]
    fn array_items_are_named_by_index() {
        let ok = br#"[{"mac":"02:00:00:00:00:01"},{"mac":"02:00:00:00:00:02","idle":"30m"}]"#;
        assert_eq!(parse(Kind::Array, ok).unwrap().len(), 2);
        let bad = br#"[{"mac":"02:00:00:00:00:01"},{"mac":"02:00:00:00:00:02","for":"1h"}]"#;
        let m = message(parse(Kind::Array, bad));
        assert!(m.starts_with("index 1 (line 1, column "), "{m}");
        assert!(m.contains("unknown field `for`"), "{m}");
        let bad = br#"[{"mac":"02:00:00:00:00:01"},{"mac":"02:00:00:00:00:02","duration":"soon"}]"#;
        let m = message(parse(Kind::Array, bad));
        assert!(m.starts_with("index 1: duration: "), "{m}");
        let bad = br#"[{"mac":"02:00:00:00:00:01"},{"mac":"02:00:00:00:00:02","quota":-1}]"#;
        let m = message(parse(Kind::Array, bad));
        assert!(m.starts_with("index 1: quota"), "{m}");
        let m = message(parse(Kind::Array, br#"[{"mac":"02:00:00:00:00:01"}] x"#));
        assert!(m.starts_with("line 1, column "), "{m}");
        assert!(parse(Kind::Array, b"[]").unwrap().is_empty());
    }

    #[test]
    fn a_device_named_twice_is_refused_with_both_places() {
        let body = b"{\"mac\":\"02:00:00:00:00:01\"}\n{\"mac\":\"02:00:00:00:00:02\"}\n{\"mac\":\"02:00:00:00:00:01\"}\n";
        let m = message(parse(Kind::Ndjson, body));
        assert_eq!(
            m,
            "line 3: 02:00:00:00:00:01 is already at line 1; a batch names each device once"
        );
    }

    #[test]
    fn a_batch_larger_than_the_client_map_is_refused() {
        let mut body = Vec::new();
        for i in 0..=MAX_BATCH as u32 {
            let b = i.to_be_bytes();
            body.extend_from_slice(
                format!(
                    "{{\"mac\":\"02:00:{:02x}:{:02x}:{:02x}:{:02x}\"}}\n",
                    b[0], b[1], b[2], b[3]
                )
                .as_bytes(),
            );
        }
        let m = message(parse(Kind::Ndjson, &body));
        assert!(m.contains(&format!("at most {MAX_BATCH}")), "{m}");
    }
}
