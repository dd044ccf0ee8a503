//! `/v1/vouchers`: create, list, revoke.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path as UrlPath, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{AdminState, ApiError, bytes_field};
use crate::{config::parse_duration, vouchers};

type VoucherBody = netauth_common::api::VoucherRequest;

pub(super) async fn voucher_create(
    State(st): State<Arc<AdminState>>,
    body: Result<Json<VoucherBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !(1..=10_000).contains(&body.count) {
        return Err(ApiError::BadRequest("count must be 1..=10000".into()));
    }
    let duration = parse_duration(&body.duration)
        .map_err(|e| ApiError::BadRequest(format!("duration: {e}")))?;
    let quota = bytes_field("quota", body.quota.as_ref())?;
    let devices = body.devices.unwrap_or(1);
    if !(1..=1000).contains(&devices) {
        return Err(ApiError::BadRequest("devices must be 1..=1000".into()));
    }
    let store = st.store.clone();
    let rate = crate::model::Rate {
        up: super::rate_field("rate_up", body.rate_up.as_ref())?.flatten(),
        down: super::rate_field("rate_down", body.rate_down.as_ref())?.flatten(),
    };
    let terms = vouchers::Terms {
        duration,
        quota,
        devices,
        rate,
    };
    let v = tokio::task::spawn_blocking(move || {
        vouchers::create(&store, body.count as usize, terms, crate::clock::now())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(format!("{e:#}")))?;
    Ok((StatusCode::CREATED, Json(json!({ "vouchers": v }))).into_response())
}

pub(super) async fn voucher_list(
    State(st): State<Arc<AdminState>>,
) -> Result<Json<Value>, ApiError> {
    let store = st.store.clone();
    let list = tokio::task::spawn_blocking(move || store.vouchers())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({ "vouchers": list })))
}

pub(super) async fn voucher_revoke(
    State(st): State<Arc<AdminState>>,
    UrlPath(code): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let code = vouchers::normalize(&code)
        .ok_or_else(|| ApiError::BadRequest(format!("'{code}' is not a voucher code")))?;
    let (store, sessions, c) = (st.store.clone(), st.sessions.clone(), code.clone());
    let found = tokio::task::spawn_blocking(move || {
        vouchers::revoke(&store, &sessions, &c, crate::clock::now())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    if found {
        Ok(Json(json!({ "revoked": code })))
    } else {
        Err(ApiError::NotFound(format!("no voucher {code}")))
    }
}
