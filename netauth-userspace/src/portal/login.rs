//! The portal's own pages: login (identify -> authenticate -> authorize -> 303), status
//! and logout. Forms carry an anti-forgery token and must come from the portal's page.

use std::net::IpAddr;

use axum::{
    Extension, Form,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use tracing::info;

use super::{
    AppState, ConnInfo, Portal, PortalError, header_value, no_store, pages, safe_redirect,
};
use crate::{
    auth::{AuthError, Credentials, Method},
    model::{EndReason, Grant, Mac},
    sessions::SessionError,
};

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    redirect: Option<String>,
}

pub(super) async fn page(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    uri: Uri,
    Query(q): Query<LoginQuery>,
) -> Response {
    if let Some(to_https) = portal.plain_login(&conn, &uri) {
        return to_https;
    }
    let redirect = q.redirect.as_deref().and_then(safe_redirect);
    let why = portal.why_captive(&conn);
    no_store(pages::login(
        &portal.venue,
        &portal.terms,
        portal.auth.method,
        redirect,
        why,
        &portal.form_token(&conn),
    ))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    token: Option<String>,
    accept: Option<String>,
    redirect: Option<String>,
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
}

pub(super) async fn submit(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PortalError> {
    if let Some(to_https) = portal.plain_login(&conn, &uri) {
        return Ok(to_https);
    }
    let LoginForm {
        token,
        accept,
        redirect,
        username,
        password,
        code,
    } = form;
    let redirect = redirect.as_deref().and_then(safe_redirect);
    let (mac, ip) = portal.identify(&conn)?;
    if !portal.form_is_genuine(&headers, mac, token.as_deref()) {
        info!(%mac, %ip, "login form without a valid token or from another origin: refused");
        return Ok(portal.login_again(mac, redirect, "This page had expired. Please try again."));
    }
    if accept.as_deref() != Some("1") {
        return Err(PortalError::NotAccepted);
    }
    let creds = Credentials {
        username,
        password,
        code,
    };
    let grant = match portal.auth.authenticate(creds, mac, ip).await {
        Ok(g) => g,
        Err(AuthError::Invalid) => return Ok(portal.refuse(mac, ip, redirect).await),
        Err(AuthError::Unavailable) => return Err(PortalError::AuthUnavailable),
    };
    match portal.authorize(mac, ip, grant).await {
        // The voucher went to another device since it was checked.
        Err(PortalError::Session(SessionError::VoucherSpent)) => {
            return Ok(portal.refuse(mac, ip, redirect).await);
        }
        // The credentials were right: say what stands in the way, without a delay.
        Err(PortalError::Session(SessionError::DeviceLimit)) => {
            return Ok(portal.login_again(
                mac,
                redirect,
                "This account is signed in on as many devices as it may be.",
            ));
        }
        r => r?,
    }
    portal.auth.forget_failures(ip);
    Ok((
        StatusCode::SEE_OTHER,
        [
            (
                header::LOCATION,
                header_value(redirect.unwrap_or("/status")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

impl Portal {
    /// Starts (or renews) the device's session; the map update and the fsynced store
    /// write run off the async workers.
    async fn authorize(&self, mac: Mac, ip: IpAddr, grant: Grant) -> Result<(), PortalError> {
        let sessions = self.sessions.clone();
        tokio::task::spawn_blocking(move || {
            sessions.authorize(mac, Some(ip), grant, crate::clock::now())
        })
        .await
        .map_err(|_| PortalError::Internal)??;
        Ok(())
    }

    /// The login page again with `message`, refused (403).
    fn login_again(&self, mac: Mac, redirect: Option<&str>, message: &str) -> Response {
        (
            StatusCode::FORBIDDEN,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(pages::login(
                &self.venue,
                &self.terms,
                self.auth.method,
                redirect,
                Some(message),
                &self.csrf.token(&mac.to_string()),
            )),
        )
            .into_response()
    }

    /// Refuses wrong credentials, after a delay that grows with each failure from `ip`.
    async fn refuse(&self, mac: Mac, ip: IpAddr, redirect: Option<&str>) -> Response {
        let delay = self.auth.failure_delay(ip);
        info!(%mac, %ip, delay_ms = delay.as_millis() as u64, "login refused");
        tokio::time::sleep(delay).await;
        let message = match self.auth.method {
            Method::Voucher => "Invalid voucher code.",
            _ => "Invalid user name or password.",
        };
        self.login_again(mac, redirect, message)
    }
}

pub(super) async fn status(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
) -> Result<Response, PortalError> {
    let (mac, _) = portal.identify(&conn)?;
    let session = portal.sessions.get(mac, crate::clock::now());
    Ok(no_store(pages::status(
        &portal.venue,
        session.as_ref(),
        &portal.csrf.token(&mac.to_string()),
    )))
}

#[derive(Deserialize)]
pub(super) struct LogoutForm {
    token: Option<String>,
}

pub(super) async fn logout(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PortalError> {
    let (mac, _) = portal.identify(&conn)?;
    if !portal.form_is_genuine(&headers, mac, form.token.as_deref()) {
        info!(%mac, "logout form without a valid token or from another origin: refused");
        return Err(PortalError::Forged);
    }
    let sessions = portal.sessions.clone();
    tokio::task::spawn_blocking(move || sessions.end(mac, EndReason::Logout, crate::clock::now()))
        .await
        .map_err(|_| PortalError::Internal)??;
    Ok(no_store(pages::signed_out(&portal.venue)))
}
