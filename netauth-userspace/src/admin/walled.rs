//! `/v1/walled-garden`: list, add, remove.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path as UrlPath, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{AdminState, ApiError};
use crate::walled::{Entry, RemoveError};

pub(super) async fn walled_list(State(st): State<Arc<AdminState>>) -> Json<Value> {
    Json(json!({ "entries": st.walled.list() }))
}

type WalledBody = netauth_common::api::WalledRequest;

pub(super) async fn walled_add(
    State(st): State<Arc<AdminState>>,
    body: Result<Json<WalledBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let entry = Entry::parse(&body.entry).map_err(ApiError::BadRequest)?;
    let added = st
        .walled
        .add(entry.clone())
        .map_err(|e| ApiError::Unavailable(format!("could not record: {e}")))?;
    let code = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(json!({ "entry": entry.to_string() }))).into_response())
}

pub(super) async fn walled_remove(
    State(st): State<Arc<AdminState>>,
    UrlPath(entry): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = Entry::parse(&entry).map_err(ApiError::BadRequest)?;
    match st.walled.remove(&entry) {
        Ok(true) => Ok(Json(json!({ "entry": entry.to_string() }))),
        Ok(false) => Err(ApiError::NotFound(format!(
            "{entry} is not in the walled garden"
        ))),
        Err(e @ RemoveError::FromConfig) => Err(ApiError::BadRequest(e.to_string())),
        Err(e @ RemoveError::Store(_)) => Err(ApiError::Unavailable(e.to_string())),
    }
}
