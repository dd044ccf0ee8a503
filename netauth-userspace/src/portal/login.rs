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
use tracing::{info, warn};

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
    lang: Option<String>,
}

pub(super) async fn page(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if let Some(to_https) = portal.plain_login(&conn, &uri) {
        return to_https;
    }
    let lang = portal.lang(q.lang.as_deref(), &headers);
    let redirect = q.redirect.as_deref().and_then(safe_redirect);
    if portal.external.is_some() {
        return portal
            .to_external(&conn, redirect)
            .unwrap_or_else(|e| e.page(&portal.theme, lang));
    }
    no_store(pages::login(
        &portal.theme,
        lang,
        &pages::Login {
            venue: &portal.venue,
            terms: &portal.terms,
            method: portal.auth.method,
            redirect,
            error: None,
            why: portal.why_captive(&conn),
            token: &portal.form_token(&conn),
        },
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
    lang: Option<String>,
}

pub(super) async fn submit(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(to_https) = portal.plain_login(&conn, &uri) {
        return to_https;
    }
    let lang = portal.lang(form.lang.as_deref(), &headers);
    if portal.external.is_some() {
        // Sign-in happens on the external portal only: its grant is the one way in.
        info!(client = %conn.remote, "login form posted while sign-in is external: refused");
        return PortalError::NotFound.page(&portal.theme, lang);
    }
    portal
        .sign_in(conn, &headers, form, lang)
        .await
        .unwrap_or_else(|e| e.page(&portal.theme, lang))
}

impl Portal {
    /// A login form's way: identify -> check the form -> authenticate -> authorize -> 303.
    async fn sign_in(
        &self,
        conn: ConnInfo,
        headers: &HeaderMap,
        form: LoginForm,
        lang: usize,
    ) -> Result<Response, PortalError> {
        let LoginForm {
            token,
            accept,
            redirect,
            username,
            password,
            code,
            lang: _,
        } = form;
        let redirect = redirect.as_deref().and_then(safe_redirect);
        let (mac, ip) = self.identify(&conn)?;
        if !self.form_is_genuine(headers, mac, token.as_deref()) {
            info!(%mac, %ip, "login form without a valid token or from another origin: refused");
            return Ok(self.login_again(mac, redirect, "login-expired", lang));
        }
        if accept.as_deref() != Some("1") {
            return Err(PortalError::NotAccepted);
        }
        let creds = Credentials {
            username,
            password,
            code,
        };
        let grant = match self.auth.authenticate(creds, mac, ip).await {
            Ok(g) => g,
            Err(AuthError::Invalid) => return Ok(self.refuse(mac, ip, redirect, lang).await),
            Err(AuthError::Unavailable) => return Err(PortalError::AuthUnavailable),
        };
        match self.authorize(mac, ip, grant).await {
            // The voucher went to another device since it was checked.
            Err(PortalError::Session(SessionError::VoucherSpent)) => {
                return Ok(self.refuse(mac, ip, redirect, lang).await);
            }
            // The credentials were right: say what stands in the way, without a delay.
            Err(PortalError::Session(SessionError::DeviceLimit)) => {
                return Ok(self.login_again(mac, redirect, "login-device-limit", lang));
            }
            r => r?,
        }
        self.auth.forget_failures(ip);
        let status = format!("/status?lang={}", self.theme.i18n.langs[lang].tag);
        Ok((
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, header_value(redirect.unwrap_or(&status))),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response())
    }

    /// Starts (or renews) the device's session; the map update and the fsynced store
    /// write run off the async workers.
    pub(super) async fn authorize(
        &self,
        mac: Mac,
        ip: IpAddr,
        grant: Grant,
    ) -> Result<(), PortalError> {
        let sessions = self.sessions.clone();
        tokio::task::spawn_blocking(move || {
            sessions.authorize(mac, Some(ip), grant, crate::clock::now())
        })
        .await
        .map_err(|_| PortalError::Internal)??;
        Ok(())
    }

    /// The login page again with the message `error` (a catalogue key), refused (403).
    fn login_again(
        &self,
        mac: Mac,
        redirect: Option<&str>,
        error: &'static str,
        lang: usize,
    ) -> Response {
        let page = pages::Login {
            venue: &self.venue,
            terms: &self.terms,
            method: self.auth.method,
            redirect,
            error: Some(error),
            why: None,
            token: &self.csrf.token(&mac.to_string()),
        };
        (
            StatusCode::FORBIDDEN,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(pages::login(&self.theme, lang, &page)),
        )
            .into_response()
    }

    /// Refuses wrong credentials, after a delay that grows with each failure from `ip`.
    async fn refuse(&self, mac: Mac, ip: IpAddr, redirect: Option<&str>, lang: usize) -> Response {
        let delay = self.auth.failure_delay(ip);
        info!(%mac, %ip, delay_ms = delay.as_millis() as u64, "login refused");
        tokio::time::sleep(delay).await;
        let message = match self.auth.method {
            Method::Voucher => "login-invalid-voucher",
            _ => "login-invalid-credentials",
        };
        self.login_again(mac, redirect, message, lang)
    }
}

impl Portal {
    /// The login on the external portal: 302 to the application with the device's signed
    /// particulars and a fresh nonce.
    fn to_external(
        &self,
        conn: &ConnInfo,
        original: Option<&str>,
    ) -> Result<Response, PortalError> {
        let ext = self.external.as_ref().ok_or(PortalError::Internal)?;
        let (mac, ip) = self.identify(conn)?;
        let grant_url = self.portal_url(conn, "/_netauth/external/grant");
        let to = ext
            .login_redirect(mac, ip, original, &grant_url)
            .map_err(|_| PortalError::Internal)?;
        info!(%mac, %ip, "sent to the external portal");
        Ok((
            StatusCode::FOUND,
            [
                (header::LOCATION, header_value(&to)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response())
    }
}

/// The external portal's grant coming back: checked, and the device signed in (303 to
/// where it was going), or refused with a page and a log line, nothing changed.
pub(super) async fn external_grant(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = portal.lang(None, &headers);
    let granted = async {
        let ext = portal.external.as_ref().ok_or(PortalError::NotFound)?;
        let (mac, ip) = portal.identify(&conn)?;
        let accepted = ext.redeem(mac, uri.query().unwrap_or("")).map_err(|why| {
            warn!(%mac, %ip, reason = %why, "external portal grant refused");
            PortalError::GrantRefused
        })?;
        info!(%mac, %ip, username = %accepted.username, "external portal grant accepted");
        portal.authorize(mac, ip, accepted.grant).await?;
        Ok::<_, PortalError>(accepted.original)
    };
    match granted.await {
        Ok(original) => {
            let status = format!("/status?lang={}", portal.theme.i18n.langs[lang].tag);
            let to = original
                .as_deref()
                .and_then(safe_redirect)
                .unwrap_or(&status);
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, header_value(to)),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response()
        }
        Err(e) => e.page(&portal.theme, lang),
    }
}

#[derive(Deserialize)]
pub(super) struct LangQuery {
    lang: Option<String>,
}

pub(super) async fn status(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let lang = portal.lang(q.lang.as_deref(), &headers);
    let (mac, _) = match portal.identify(&conn) {
        Ok(m) => m,
        Err(e) => return e.page(&portal.theme, lang),
    };
    let session = portal.sessions.get(mac, crate::clock::now());
    no_store(pages::status(
        &portal.theme,
        lang,
        &portal.venue,
        session.as_ref(),
        &portal.csrf.token(&mac.to_string()),
    ))
}

#[derive(Deserialize)]
pub(super) struct LogoutForm {
    token: Option<String>,
    lang: Option<String>,
}

pub(super) async fn logout(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let lang = portal.lang(form.lang.as_deref(), &headers);
    let signed_out = async {
        let (mac, _) = portal.identify(&conn)?;
        if !portal.form_is_genuine(&headers, mac, form.token.as_deref()) {
            info!(%mac, "logout form without a valid token or from another origin: refused");
            return Err(PortalError::Forged);
        }
        let sessions = portal.sessions.clone();
        tokio::task::spawn_blocking(move || {
            sessions.end(mac, EndReason::Logout, crate::clock::now())
        })
        .await
        .map_err(|_| PortalError::Internal)??;
        Ok(())
    };
    match signed_out.await {
        Ok(()) => no_store(pages::signed_out(&portal.theme, lang, &portal.venue)),
        Err(e) => e.page(&portal.theme, lang),
    }
}
