//! What a portal request that cannot be served answers: a page that tells the user what
//! to do, with the status code that says what happened.

use std::net::IpAddr;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use tracing::warn;

use super::pages;
use crate::sessions::SessionError;

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("this request did not come from a client on the LAN ({0})")]
    NotOnLan(IpAddr),
    #[error("the connection's packets came from more than one device")]
    Ambiguous,
    #[error("the form was not sent from this portal's page")]
    Forged,
    #[error("the terms were not accepted")]
    NotAccepted,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("internal error")]
    Internal,
    #[error("the login service is unavailable")]
    AuthUnavailable,
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PortalError::NotOnLan(_) => (
                StatusCode::FORBIDDEN,
                "Device not recognised",
                "This page can only be used from a device connected to the guest network. \
                 If you are connected, reconnect to the network and try again."
                    .to_string(),
            ),
            PortalError::Ambiguous => (
                StatusCode::CONFLICT,
                "Please try again",
                "We could not tell which device this request came from. Please try again."
                    .to_string(),
            ),
            PortalError::Forged => (
                StatusCode::FORBIDDEN,
                "Page expired",
                "This form has expired or was not sent from this network's sign-in page. \
                 Please go back, reload the page and try again."
                    .to_string(),
            ),
            PortalError::NotAccepted => (
                StatusCode::BAD_REQUEST,
                "Terms not accepted",
                "Please go back and accept the terms of use to connect.".to_string(),
            ),
            PortalError::Session(SessionError::Full) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Network full",
                "The network cannot take more devices right now. Please try again later."
                    .to_string(),
            ),
            PortalError::AuthUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in unavailable",
                "The sign-in service is not answering right now. Please try again in a minute."
                    .to_string(),
            ),
            PortalError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.".to_string(),
            ),
            PortalError::Session(SessionError::EndNotRecorded(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Signed out",
                "Your device is signed out, but the network could not record it yet.".to_string(),
            ),
            PortalError::Session(SessionError::Store(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in unavailable",
                "The network cannot record sign-ins right now. Please try again in a minute."
                    .to_string(),
            ),
            PortalError::Session(e) => {
                warn!("portal request failed: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Your device could not be signed in. Please try again.".to_string(),
                )
            }
        };
        (
            status,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(pages::error(title, &message)),
        )
            .into_response()
    }
}
