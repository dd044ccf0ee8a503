//! `/v1/sessions`: list, show, allow (one session or a batch), extend, limit, revoke.

use std::sync::Arc;

use std::net::IpAddr;

use axum::{
    Json,
    body::Body,
    extract::{FromRequest as _, Path as UrlPath, Request, State, rejection::JsonRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper::body::Bytes;

use super::{AdminState, ApiError, bytes_field, duration_field, parse_mac, rate_field};
use crate::{
    config::parse_duration,
    model::{Change, EndReason, Grant, Mac, Quota, Rate, SessionView, Via},
};

/// Durations are strings ("2h"); byte counts are numbers or strings ("500M").
type AllowBody = netauth_common::api::AllowRequest;

/// Streams the listing: with 100k sessions, one JSON document built in memory cost the
/// daemon 65-130 MB per request, which the allocator kept.
pub(super) async fn list(State(st): State<Arc<AdminState>>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let sessions = st.sessions.clone();
    tokio::task::spawn_blocking(move || {
        sessions.list_json(crate::clock::now(), |piece| tx.blocking_send(piece).is_ok());
        crate::memory::give_back();
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|piece| (Ok::<_, std::convert::Infallible>(Bytes::from(piece)), rx))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

pub(super) async fn show(
    State(st): State<Arc<AdminState>>,
    UrlPath(mac): UrlPath<String>,
) -> Result<Json<SessionView>, ApiError> {
    let mac = parse_mac(&mac)?;
    st.sessions
        .get(mac, crate::clock::now())
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no session for {mac}")))
}

/// The MAC and grant one allow request asks for.
pub(super) fn grant_of(body: &AllowBody) -> Result<(Mac, Grant), ApiError> {
    let mac = parse_mac(&body.mac)?;
    let grant = Grant {
        duration: duration_field("duration", body.duration.as_deref())?,
        idle: duration_field("idle", body.idle.as_deref())?,
        quota: Quota {
            total: bytes_field("quota", body.quota.as_ref())?,
            up: bytes_field("quota_up", body.quota_up.as_ref())?,
            down: bytes_field("quota_down", body.quota_down.as_ref())?,
        },
        // `"none"` at allow: no limit of its own, so the daemon's default applies.
        rate: Rate {
            up: rate_field("rate_up", body.rate_up.as_ref())?.flatten(),
            down: rate_field("rate_down", body.rate_down.as_ref())?.flatten(),
        },
        ..Grant::by(Via::Admin)
    };
    Ok((mac, grant))
}

/// One session (a JSON object: 201 and the session), or a batch of them (a JSON array,
/// or NDJSON: see [`super::batch`]).
pub(super) async fn allow(
    State(st): State<Arc<AdminState>>,
    req: Request,
) -> Result<Response, ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = match Bytes::from_request(req, &()).await {
        Ok(b) => b,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    if let Some(kind) = super::batch::kind(content_type.as_ref(), &bytes) {
        return super::batch::allow(st, kind, bytes).await;
    }
    // One session, refused exactly as the JSON extractor refuses it.
    let mut one = Request::new(Body::from(bytes));
    if let Some(ct) = content_type {
        one.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    let Json(body) = Json::<AllowBody>::from_request(one, &())
        .await
        .map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (mac, grant) = grant_of(&body)?;
    let sessions = st.sessions.clone();
    // Map update and an fsynced store write: off the async workers.
    let session = tokio::task::spawn_blocking(move || {
        sessions.authorize(mac, None, grant, crate::clock::now())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    adopt_neighbours(&st, &[mac]).await;
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

/// Binds to devices an operator allowed the addresses the gateway's neighbour table
/// knows them by (one dump of the table, however many devices).
pub(super) async fn adopt_neighbours(st: &AdminState, macs: &[Mac]) {
    let Some(lan) = &st.lan else {
        return;
    };
    match crate::netlink::neighbours(&lan.handle, lan.ifindex).await {
        Ok(mut table) => {
            let found: Vec<(Mac, Vec<IpAddr>)> = macs
                .iter()
                .filter_map(|m| Some((*m, table.remove(m)?)))
                .collect();
            if found.is_empty() {
                return;
            }
            let sessions = st.sessions.clone();
            let _ = tokio::task::spawn_blocking(move || sessions.adopt_addresses(&found)).await;
        }
        Err(e) => tracing::warn!(devices = macs.len(), "neighbour table: {e:#}"),
    }
}

type ExtendBody = netauth_common::api::ExtendRequest;

pub(super) async fn extend(
    State(st): State<Arc<AdminState>>,
    UrlPath(mac): UrlPath<String>,
    body: Result<Json<ExtendBody>, JsonRejection>,
) -> Result<Json<SessionView>, ApiError> {
    let mac = parse_mac(&mac)?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let by = parse_duration(&body.duration)
        .map_err(|e| ApiError::BadRequest(format!("duration: {e}")))?;
    let sessions = st.sessions.clone();
    let v = tokio::task::spawn_blocking(move || sessions.extend(mac, by, crate::clock::now()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(v))
}

type LimitBody = netauth_common::api::LimitRequest;

/// New rate limits for a running session; it goes on (counters, time and all).
pub(super) async fn limit(
    State(st): State<Arc<AdminState>>,
    UrlPath(mac): UrlPath<String>,
    body: Result<Json<LimitBody>, JsonRejection>,
) -> Result<Json<SessionView>, ApiError> {
    let mac = parse_mac(&mac)?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let change = Change {
        rate_up: rate_field("rate_up", body.rate_up.as_ref())?,
        rate_down: rate_field("rate_down", body.rate_down.as_ref())?,
        ..Change::default()
    };
    if change.rate_up.is_none() && change.rate_down.is_none() {
        return Err(ApiError::BadRequest(
            "give rate_up and/or rate_down (bit/s, or \"none\")".into(),
        ));
    }
    let sessions = st.sessions.clone();
    let v = tokio::task::spawn_blocking(move || sessions.change(mac, change, crate::clock::now()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(v))
}

pub(super) async fn revoke(
    State(st): State<Arc<AdminState>>,
    UrlPath(mac): UrlPath<String>,
) -> Result<Json<SessionView>, ApiError> {
    let mac = parse_mac(&mac)?;
    let sessions = st.sessions.clone();
    match tokio::task::spawn_blocking(move || {
        sessions.end(mac, EndReason::Revoked, crate::clock::now())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    {
        Ok(Some(s)) => Ok(Json(s)),
        Ok(None) => Err(ApiError::NotFound(format!("no session for {mac}"))),
        Err(e) => Err(e.into()),
    }
}
