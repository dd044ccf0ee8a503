//! The daemon itself: `/v1/status`, `/v1/shutdown`, `/metrics`.

use std::sync::Arc;

use axum::{
    Json,
    extract::{State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{AdminState, ApiError};

pub(super) async fn status(State(st): State<Arc<AdminState>>) -> Json<Value> {
    let counters: serde_json::Map<String, Value> = st
        .counters
        .read()
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut facts = st.facts.clone();
    facts["sessions"] = json!(st.sessions.count());
    facts["map_entries"] = json!(st.sessions.map_entries());
    facts["store"] = json!(st.sessions.store_health());
    facts["clock"] = json!({
        "wall_ms": crate::clock::real_wall_ms(),
        "boot_ms": crate::clock::boot_ms(),
        "kernel_synced": crate::clock::kernel_synced(),
        "wall_clock_trusted": crate::clock::wall_trusted(),
    });
    facts["counters"] = Value::Object(counters);
    Json(facts)
}

type ShutdownBody = netauth_common::api::ShutdownRequest;

pub(super) async fn shutdown(
    State(st): State<Arc<AdminState>>,
    body: Result<Json<ShutdownBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    st.shutdown
        .send(body.detach)
        .await
        .map_err(|_| ApiError::Internal("already shutting down".into()))?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "detach": body.detach }))).into_response())
}

pub(super) async fn metrics(State(st): State<Arc<AdminState>>) -> Response {
    st.metrics.clone().response().await
}
