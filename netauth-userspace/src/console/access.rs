//! Who may use the console: signing in and out (accounts file, failed logins limited per
//! address), the login cookie, and the anti-forgery check on every change.

use std::time::Instant;

use axum::{
    Extension, Form,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tracing::{info, warn};

use super::{COOKIE, Console, FAILURE_WINDOW, LOGIN_LIFETIME, Login, Peer, St, pages};
use crate::{auth::UsersFile, portal::csrf::same_origin};

/// A cookie's value from the request's Cookie headers.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn random_token() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// What every change carries: the anti-forgery token.
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// Why a request is not served.
pub(super) enum Denied {
    /// Nobody is signed in: to the login page.
    Login,
    /// A change without the token of the login's forms, or from another site.
    Forged,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Login => Redirect::to("/login").into_response(),
            Denied::Forged => (
                StatusCode::FORBIDDEN,
                Html(pages::message(
                    "Refused",
                    "This form has expired or did not come from the console. Reload the page and try again.",
                )),
            )
                .into_response(),
        }
    }
}

/// The signed-in user of a page request (name, login token).
pub(super) fn signed_in(c: &Console, headers: &HeaderMap) -> Result<(String, String), Denied> {
    c.user(headers).ok_or(Denied::Login)
}

/// The signed-in user of a change, whose form's token must be the one made for their
/// login; and, when the browser names the page's origin, it must be this console.
pub(super) fn change(
    c: &Console,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(String, String), Denied> {
    let (user, token) = signed_in(c, headers)?;
    if !c.csrf.verify(&token, csrf) || !same_origin(headers) {
        warn!(%user, "console: a change without a valid anti-forgery token refused");
        return Err(Denied::Forged);
    }
    Ok((user, token))
}

pub(super) async fn login_page(
    State(c): State<St>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    if c.user(&headers).is_some() {
        return Redirect::to("/sessions").into_response();
    }
    Html(pages::login(
        &c.csrf.token(&format!("login {}", peer.ip())),
        None,
    ))
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub(super) async fn login(
    State(c): State<St>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let ip = peer.ip();
    let fresh = c.csrf.token(&format!("login {ip}"));
    if c.limited(ip) {
        warn!(%ip, "console: login refused, too many failures");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, FAILURE_WINDOW.as_secs().to_string())],
            Html(pages::login(
                &fresh,
                Some("Too many failed logins from this address. Try again in 10 minutes."),
            )),
        )
            .into_response();
    }
    if !c.csrf.verify(&format!("login {ip}"), &f.csrf) || !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            Html(pages::login(&fresh, Some("The form expired; try again."))),
        )
            .into_response();
    }
    // Read at every attempt (like the portal's users file): `netauth admin-user` applies
    // without a restart. Hashing is slow on purpose: off the async workers.
    let path = c.accounts.clone();
    let (user, password) = (f.user.clone(), f.password);
    let ok = tokio::task::spawn_blocking(move || {
        UsersFile::load(&path).map(|u| u.verify(&user, &password))
    })
    .await;
    match ok {
        Ok(Ok(true)) => {}
        Ok(Err(e)) => {
            warn!("console: accounts file unreadable: {e:#}");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(pages::login(
                    &fresh,
                    Some("The accounts file cannot be read."),
                )),
            )
                .into_response();
        }
        _ => {
            c.failed(ip);
            info!(%ip, user = %f.user, "console: failed login");
            return (
                StatusCode::UNAUTHORIZED,
                Html(pages::login(&fresh, Some("Wrong name or password."))),
            )
                .into_response();
        }
    }
    let Ok(token) = random_token() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    c.logins.lock().unwrap_or_else(|e| e.into_inner()).insert(
        token.clone(),
        Login {
            user: f.user.clone(),
            until: Instant::now() + LOGIN_LIFETIME,
        },
    );
    info!(%ip, user = %f.user, "console: signed in");
    let secure = if c.secure { "; Secure" } else { "" };
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/sessions".to_string()),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
                    LOGIN_LIFETIME.as_secs()
                ),
            ),
        ],
    )
        .into_response()
}

pub(super) async fn logout(
    State(c): State<St>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let (_, token) = match change(&c, &headers, &f.csrf) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    c.logins
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&token);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
            ),
        ],
    )
        .into_response()
}
