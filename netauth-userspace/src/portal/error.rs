//! What a portal request that cannot be served answers: a page that tells the user what
//! to do, with the status code that says what happened.

use std::net::IpAddr;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use tracing::warn;

use super::{pages, theme::Theme};
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
    #[error("the external portal's grant was refused")]
    GrantRefused,
    #[error("no such page")]
    NotFound,
}

/// Every error page's message key, for the theme's check at start.
pub const KEYS: [&str; 12] = [
    "error-grant-refused",
    "error-not-on-lan",
    "error-ambiguous",
    "error-forged",
    "error-not-accepted",
    "error-full",
    "error-auth-unavailable",
    "error-internal",
    "error-end-not-recorded",
    "error-store",
    "error-session",
    "error-not-found",
];

impl PortalError {
    /// The status code and the page's message key (`KEY` and `KEY-title`).
    fn what(&self) -> (StatusCode, &'static str) {
        match self {
            PortalError::NotOnLan(_) => (StatusCode::FORBIDDEN, "error-not-on-lan"),
            PortalError::Ambiguous => (StatusCode::CONFLICT, "error-ambiguous"),
            PortalError::Forged => (StatusCode::FORBIDDEN, "error-forged"),
            PortalError::NotAccepted => (StatusCode::BAD_REQUEST, "error-not-accepted"),
            PortalError::Session(SessionError::Full) => {
                (StatusCode::SERVICE_UNAVAILABLE, "error-full")
            }
            PortalError::AuthUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "error-auth-unavailable")
            }
            PortalError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "error-internal"),
            PortalError::GrantRefused => (StatusCode::FORBIDDEN, "error-grant-refused"),
            PortalError::NotFound => (StatusCode::NOT_FOUND, "error-not-found"),
            PortalError::Session(SessionError::EndNotRecorded(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "error-end-not-recorded")
            }
            PortalError::Session(SessionError::Store(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "error-store")
            }
            PortalError::Session(e) => {
                warn!("portal request failed: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "error-session")
            }
        }
    }

    /// The page that tells the user, in language `lang` of `theme`.
    pub fn page(self, theme: &Theme, lang: usize) -> Response {
        let (status, key) = self.what();
        (
            status,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(pages::error(theme, lang, key)),
        )
            .into_response()
    }
}
