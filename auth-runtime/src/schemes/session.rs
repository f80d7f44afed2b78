//! Session authentication with CSRF protection (DRF's `SessionAuthentication` on Django's
//! sessions and CSRF middleware).
//!
//! The browser carries the `sessionid` cookie; the session lives server-side (see
//! [`crate::sessions`]). A missing, unknown, expired or logged-out session is "no
//! credentials", and so is a session whose user is gone, inactive, changed password
//! (Django's session hash), had its sessions ended, or passed the absolute lifetime. The only
//! rejection is a CSRF failure (403 `csrf_failed`), checked as DRF does: only for requests
//! this scheme authenticated, only for unsafe methods.
//!
//! CSRF: each session holds a 32-byte secret. Pages get it masked afresh each time
//! (`mask || secret XOR mask`, base64url), so it does not leak through compression side
//! channels (BREACH); the token comes back in the `X-CSRFToken` header (or the
//! `csrfmiddlewaretoken` form field of the HTML forms) and is unmasked and compared in
//! constant time. The `csrftoken` cookie, readable by JavaScript, holds a masked token.
//! `Sec-Fetch-Site: cross-site` is refused early; an `Origin` header must be the app's own
//! origin or a trusted one; on HTTPS a request without `Origin` needs a same-origin `Referer`.

use actix_session::{Session as ActixSession, SessionExt};
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::AuthError;
use crate::permissions::is_safe_method;
use crate::principal::{Principal, SchemeData, User};
use crate::scheme::{Outcome, Scheme};
use crate::state::Auth;

/// The Session scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Session;

/// Where sessions are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStoreKind {
    /// The `auth_sessions` table (default).
    #[default]
    Database,
    /// Redis at [`SessionConfig::redis_url`], for apps that run several instances.
    Redis,
}

/// Configuration of [`Session`] and of the session middleware (times in seconds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SessionConfig {
    /// The session cookie's name. Default `"sessionid"` (Django's).
    pub cookie_name: String,
    /// `Secure` on the session and CSRF cookies. Default true; turn off only for plain-HTTP
    /// development on loopback.
    pub cookie_secure: bool,
    /// A session unused for this long ends. Default 1209600 (two weeks, Django's
    /// `SESSION_COOKIE_AGE`).
    pub idle_timeout: u64,
    /// A session ends this long after login however much it is used. Default 2592000 (30 days).
    pub absolute_lifetime: u64,
    /// The CSRF cookie's name. Default `"csrftoken"`.
    pub csrf_cookie_name: String,
    /// The CSRF header. Default `"X-CSRFToken"`.
    pub csrf_header_name: String,
    /// Origins besides the app's own allowed to send unsafe requests, e.g.
    /// `"https://app.example.com"` (Django's `CSRF_TRUSTED_ORIGINS`).
    pub trusted_origins: Vec<String>,
    /// Where sessions are kept. Default the database.
    pub store: SessionStoreKind,
    /// Redis URL for [`SessionStoreKind::Redis`], e.g. `redis://127.0.0.1:6379`.
    pub redis_url: Option<String>,
    /// The idle expiry is pushed back (one store write) on the first request after this
    /// percentage of [`SessionConfig::idle_timeout`] has passed since it was last set, not on
    /// every request. Default 10: a two-week session is written at most every ~34 hours,
    /// and ends after between 90% and 100% of the idle timeout without use.
    pub expiry_refresh_percent: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            cookie_name: "sessionid".into(),
            cookie_secure: true,
            idle_timeout: 1_209_600,
            absolute_lifetime: 2_592_000,
            csrf_cookie_name: "csrftoken".into(),
            csrf_header_name: "X-CSRFToken".into(),
            trusted_origins: Vec::new(),
            store: SessionStoreKind::Database,
            redis_url: None,
            expiry_refresh_percent: 10,
        }
    }
}

/// Session key of the logged-in user's id.
pub const USER_ID_KEY: &str = "_auth_user_id";
const USER_HASH_KEY: &str = "_auth_user_hash";
const LOGIN_AT_KEY: &str = "_auth_login_at";
const REFRESHED_AT_KEY: &str = "_auth_refreshed_at";
const CSRF_SECRET_KEY: &str = "_csrf_secret";
/// The form field that carries the CSRF token in HTML forms.
pub const CSRF_FORM_FIELD: &str = "csrfmiddlewaretoken";

fn config(auth: &Auth) -> SessionConfig {
    auth.config::<SessionConfig>().cloned().unwrap_or_default()
}

/// Django's session verification hash: HMAC-SHA256 of the password hash under a key derived
/// from the secret key. A password change makes it differ, which ends the user's sessions.
fn user_hash(auth: &Auth, password_hash: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&auth.secret_key().derive("session-auth-hash")).expect("any key size");
    mac.update(password_hash.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A CSRF failure: 403 `csrf_failed` with Django's sentence for the check that failed.
pub fn csrf_failed(reason: &str) -> AuthError {
    AuthError::PermissionDenied {
        detail: format!("CSRF Failed: {reason}").into(),
        code: "csrf_failed",
        challenges: Vec::new(),
    }
}

/// Masks `secret` with a fresh random mask: base64url(mask || secret XOR mask).
pub fn mask(secret: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    rand::rng().fill_bytes(&mut out[..32]);
    for i in 0..32 {
        out[32 + i] = secret[i] ^ out[i];
    }
    B64.encode(out)
}

/// Unmasks a token made by [`mask`]; `None` when it is not one.
pub fn unmask(token: &str) -> Option<[u8; 32]> {
    let bytes = B64.decode(token.trim()).ok()?;
    if bytes.len() != 64 {
        return None;
    }
    let mut secret = [0u8; 32];
    for i in 0..32 {
        secret[i] = bytes[i] ^ bytes[32 + i];
    }
    Some(secret)
}

fn session_secret(session: &ActixSession) -> Option<[u8; 32]> {
    let s: String = session.get(CSRF_SECRET_KEY).ok()??;
    B64.decode(s).ok()?.try_into().ok()
}

/// The session's CSRF secret, created if the session has none yet.
fn ensure_secret(session: &ActixSession) -> [u8; 32] {
    if let Some(s) = session_secret(session) {
        return s;
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let _ = session.insert(CSRF_SECRET_KEY, B64.encode(secret));
    secret
}

/// A freshly masked CSRF token for the request's session (creating the session's secret and
/// thereby the session if needed), and the `csrftoken` cookie carrying it.
pub fn csrf_token(req: &HttpRequest, auth: &Auth) -> (String, Cookie<'static>) {
    let secret = ensure_secret(&req.get_session());
    let token = mask(&secret);
    (token.clone(), csrf_cookie(auth, token))
}

fn csrf_cookie(auth: &Auth, token: String) -> Cookie<'static> {
    let cfg = config(auth);
    Cookie::build(cfg.csrf_cookie_name, token)
        .path("/")
        .same_site(SameSite::Lax)
        .secure(cfg.cookie_secure)
        .http_only(false)
        .max_age(actix_web::cookie::time::Duration::seconds(i64::try_from(cfg.idle_timeout).unwrap_or(1_209_600)))
        .finish()
}

/// The app's own origin, `scheme://host`.
fn own_origin(req: &HttpRequest) -> String {
    req.app_data::<Auth>().and_then(|auth| crate::hosts::own_origin(req, auth).ok()).unwrap_or_default()
}

/// Checks the request's origin as Django does: `Sec-Fetch-Site: cross-site` is refused; a
/// present `Origin` must be the app's own or trusted; on HTTPS without `Origin`, the
/// `Referer` must be.
fn check_origin(req: &HttpRequest, auth: &Auth) -> Result<(), AuthError> {
    let headers = req.headers();
    let get = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if get(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return Err(csrf_failed("Cross-site request refused (Sec-Fetch-Site)."));
    }
    let cfg = config(auth);
    let own = own_origin(req);
    let allowed = |origin: &str| origin == own || cfg.trusted_origins.iter().any(|t| t == origin);
    if let Some(origin) = get(header::ORIGIN) {
        if !allowed(origin) {
            return Err(csrf_failed("Origin checking failed - the origin does not match any trusted origins."));
        }
        return Ok(());
    }
    if own.starts_with("https://") {
        let Some(referer) = get(header::REFERER) else {
            return Err(csrf_failed("Referer checking failed - no Referer."));
        };
        let origin = referer_origin(referer);
        if !origin.is_some_and(|o| allowed(&o)) {
            return Err(csrf_failed("Referer checking failed - the Referer does not match any trusted origins."));
        }
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL.
fn referer_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// The CSRF check of unsafe requests: origin checks, then the token (from the header, else
/// `form_token`) against the session's secret, in constant time.
///
/// # Errors
/// 403 `csrf_failed` saying which check failed (missing, incorrect, no secret, bad origin).
pub fn check_csrf(req: &HttpRequest, auth: &Auth, form_token: Option<&str>) -> Result<(), AuthError> {
    check_origin(req, auth)?;
    let cfg = config(auth);
    let header = req.headers().get(cfg.csrf_header_name.as_str()).map(|v| v.to_str().unwrap_or(""));
    let Some(token) = header.or(form_token).filter(|t| !t.is_empty()) else {
        return Err(csrf_failed("CSRF token missing."));
    };
    let Some(secret) = session_secret(&req.get_session()) else {
        return Err(csrf_failed("CSRF cookie not set."));
    };
    match unmask(token) {
        Some(given) if bool::from(given.ct_eq(&secret)) => Ok(()),
        _ => Err(csrf_failed("CSRF token incorrect.")),
    }
}

/// Logs `user` in on the request's session: a new session key (no fixation), fresh state
/// with the user, its session hash, the login time and a new CSRF secret. Returns the new
/// `csrftoken` cookie (the CSRF token changes at login), which the response must set.
///
/// # Errors
/// 503 when the user store fails.
pub async fn login(req: &HttpRequest, auth: &Auth, user: &User) -> Result<Cookie<'static>, AuthError> {
    let stored = auth.users().by_id(user.id).await?.ok_or(AuthError::InvalidCredentials)?;
    let session = req.get_session();
    session.clear();
    session.renew();
    let _ = session.insert(USER_ID_KEY, user.id);
    let _ = session.insert(USER_HASH_KEY, user_hash(auth, &stored.password_hash));
    let _ = session.insert(LOGIN_AT_KEY, now_ms());
    let (_, cookie) = csrf_token(req, auth);
    Ok(cookie)
}

/// Logs out: the session is deleted server-side and its cookie removed, so a replayed cookie
/// is anonymous. The session store drops its cached state when it deletes it, and the
/// user's cached entries are revoked on every instance.
pub async fn logout(req: &HttpRequest, auth: &Auth, user_id: Option<i64>) {
    req.get_session().purge();
    if let Some(id) = user_id {
        auth.revoked(crate::cache::Subject::User(id)).await;
    }
}

/// Ends every session of a user from now on (deactivation): sessions logged in before now
/// are "no credentials" on their next request, in any store; database sessions are deleted.
///
/// # Errors
/// 503 on a store failure.
pub async fn end_user_sessions(auth: &Auth, user_id: i64) -> Result<(), AuthError> {
    crate::schemes::jwt::revoke_sessions(auth, user_id, now_ms()).await?;
    crate::sessions::delete_user_sessions(auth.db(), user_id).await?;
    auth.revoked(crate::cache::Subject::User(user_id)).await;
    Ok(())
}

/// The user of a valid logged-in session, or `None` (no session, logged out, expired, user
/// gone or inactive, password changed, sessions ended). Does not check CSRF: callers that
/// act on an unsafe request check it with [`check_csrf`].
///
/// # Errors
/// 503 on a store failure.
pub async fn session_user(req: &HttpRequest, auth: &Auth) -> Result<Option<User>, AuthError> {
    let session = req.get_session();
    let Ok(Some(user_id)) = session.get::<i64>(USER_ID_KEY) else { return Ok(None) };
    // One statement (user and revocation times), or none while cached.
    let (user, password_hash, sessions_not_before) = if auth.default_users() {
        let Some(row) = crate::reads::cached_user(auth, user_id).await? else { return Ok(None) };
        (row.user(), row.password_hash.clone(), row.sessions_not_before)
    } else {
        let Some(stored) = auth.users().by_id(user_id).await? else { return Ok(None) };
        let not_before = crate::schemes::jwt::sessions_not_before(auth.db(), user_id).await?;
        (stored.user, stored.password_hash, not_before)
    };
    if !user.is_active {
        return Ok(None);
    }
    let hash: Option<String> = session.get(USER_HASH_KEY).ok().flatten();
    let expected = user_hash(auth, &password_hash);
    if !hash.is_some_and(|h| bool::from(h.as_bytes().ct_eq(expected.as_bytes()))) {
        return Ok(None);
    }
    let login_at: i64 = session.get(LOGIN_AT_KEY).ok().flatten().unwrap_or(0);
    let cfg = config(auth);
    let lifetime_ms = i64::try_from(cfg.absolute_lifetime).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
    let now = now_ms();
    if now.saturating_sub(login_at) > lifetime_ms {
        return Ok(None);
    }
    if login_at < sessions_not_before {
        return Ok(None);
    }
    // The idle expiry moves only when enough of it has passed (Django's
    // SESSION_SAVE_EVERY_REQUEST=False, plus a rare refresh): changing the state makes the
    // session layer write the session once with a new expiry and cookie Max-Age.
    let refreshed_at: i64 = session.get(REFRESHED_AT_KEY).ok().flatten().unwrap_or(login_at);
    let interval_ms = i64::try_from(cfg.idle_timeout.saturating_mul(cfg.expiry_refresh_percent.min(100)) / 100)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    if now.saturating_sub(refreshed_at) >= interval_ms {
        let _ = session.insert(REFRESHED_AT_KEY, now);
    }
    Ok(Some(user))
}

impl Scheme for Session {
    const NAME: &'static str = "session";
    type Config = SessionConfig;

    async fn authenticate(req: &HttpRequest, auth: &Auth) -> Outcome {
        let user = match session_user(req, auth).await {
            Ok(Some(user)) => user,
            Ok(None) => return Outcome::NoCredentials,
            Err(e) => return Outcome::Rejected(e),
        };
        if !is_safe_method(req)
            && let Err(e) = check_csrf(req, auth, None)
        {
            return Outcome::Rejected(e);
        }
        Outcome::Authenticated(Principal::for_user(user, Self::NAME, SchemeData::Session))
    }

    /// Sessions have no challenge: a session failure alone is 403 (DRF).
    fn challenge(_: &Auth, _: Option<&AuthError>) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trip_and_freshness() {
        let secret = [7u8; 32];
        let a = mask(&secret);
        let b = mask(&secret);
        assert_ne!(a, b, "masked afresh each time");
        assert_eq!(unmask(&a), Some(secret));
        assert_eq!(unmask(&b), Some(secret));
        assert_eq!(unmask("short"), None);
        assert_eq!(unmask(&"A".repeat(86)).map(|s| s == secret), Some(false));
    }

    #[test]
    fn referer_origins() {
        assert_eq!(referer_origin("https://a.example:8443/x?y#z").as_deref(), Some("https://a.example:8443"));
        assert_eq!(referer_origin("nonsense"), None);
        assert_eq!(referer_origin("https:///path"), None);
    }
}
