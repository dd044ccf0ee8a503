//! `/v1/sessions`: list, show, allow, extend, revoke.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path as UrlPath, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hyper::body::Bytes;

use super::{AdminState, ApiError, bytes_field, duration_field, parse_mac};
use crate::{
    config::parse_duration,
    model::{EndReason, Grant, Quota, SessionView, Via},
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

pub(super) async fn allow(
    State(st): State<Arc<AdminState>>,
    body: Result<Json<AllowBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mac = parse_mac(&body.mac)?;
    let grant = Grant {
        duration: duration_field("duration", body.duration.as_deref())?,
        idle: duration_field("idle", body.idle.as_deref())?,
        quota: Quota {
            total: bytes_field("quota", body.quota.as_ref())?,
            up: bytes_field("quota_up", body.quota_up.as_ref())?,
            down: bytes_field("quota_down", body.quota_down.as_ref())?,
        },
        ..Grant::by(Via::Admin)
    };
    let sessions = st.sessions.clone();
    // Map update and an fsynced store write: off the async workers.
    let session = tokio::task::spawn_blocking(move || {
        sessions.authorize(mac, None, grant, crate::clock::now())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    if let Some(lan) = &st.lan {
        match crate::netlink::neighbour_addresses(&lan.handle, lan.ifindex, mac).await {
            Ok(ips) if !ips.is_empty() => {
                let sessions = st.sessions.clone();
                let _ =
                    tokio::task::spawn_blocking(move || sessions.adopt_addresses(mac, &ips)).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%mac, "neighbour table: {e:#}"),
        }
    }
    Ok((StatusCode::CREATED, Json(session)).into_response())
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
