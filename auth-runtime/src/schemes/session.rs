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
//! Sessions exist only for logged-in users (created at login, deleted at logout): anonymous
//! visitors cost no server state.
//!
//! CSRF (Django's default, `CSRF_USE_SESSIONS = False`): the browser's 32-byte CSRF secret
//! lives in the `csrftoken` cookie (readable by JavaScript), always masked afresh
//! (`mask || secret XOR mask`, base64url) so it does not leak through compression side
//! channels (BREACH). The token comes back in the `X-CSRFToken` header (or the
//! `csrfmiddlewaretoken` form field of the HTML forms) and is unmasked and compared with the
//! cookie's secret in constant time; a new secret is issued at login.
//! `Sec-Fetch-Site: cross-site` is refused early; an `Origin` header must be the app's own
//! origin or a trusted one; on HTTPS a request without `Origin` needs a same-origin `Referer`.

use std::sync::LazyLock;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::cache::GenCache;
use crate::error::AuthError;
use crate::permissions::is_safe_method;
use crate::principal::{Principal, SchemeData, User};
use crate::scheme::{Outcome, Scheme};
use crate::sessions::{self, RenewedCookie, SessionRecord, SessionStore};
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
    /// How often (seconds) the background task of [`crate::lifecycle::spawn_flush`] deletes
    /// expired sessions and every other expired record. Default 3600; 0: never (the CLI's
    /// `flush-expired-tokens` still does).
    pub cleanup_interval: u64,
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
            cleanup_interval: 3600,
        }
    }
}

/// The form field that carries the CSRF token in HTML forms.
pub const CSRF_FORM_FIELD: &str = "csrfmiddlewaretoken";

static DEFAULT_CONFIG: LazyLock<SessionConfig> = LazyLock::new(SessionConfig::default);

fn config(auth: &Auth) -> &SessionConfig {
    auth.config::<SessionConfig>().unwrap_or(&DEFAULT_CONFIG)
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

fn seconds_ms(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
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
    let token = token.trim();
    if token.len() != 86 {
        return None;
    }
    let bytes = B64.decode(token).ok()?;
    let mut secret = [0u8; 32];
    for i in 0..32 {
        secret[i] = bytes[i] ^ bytes[32 + i];
    }
    Some(secret)
}

/// The value of the request's cookie `name`, parsed from the `Cookie` headers without
/// allocating for the others (a malformed header counts as no cookie).
fn cookie_value<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// The CSRF secret the browser holds: the unmasked value of the `csrftoken` cookie (Django's
/// `CSRF_USE_SESSIONS = False`: no server-side state for it).
fn cookie_secret(req: &HttpRequest, auth: &Auth) -> Option<[u8; 32]> {
    unmask(cookie_value(req, &config(auth).csrf_cookie_name)?)
}

fn new_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// A freshly masked CSRF token of the browser's CSRF secret (a new secret when its
/// `csrftoken` cookie holds none), and the `csrftoken` cookie carrying it. Creates no
/// server-side state.
pub fn csrf_token(req: &HttpRequest, auth: &Auth) -> (String, Cookie<'static>) {
    let secret = cookie_secret(req, auth).unwrap_or_else(new_secret);
    let token = mask(&secret);
    (token.clone(), csrf_cookie(auth, token))
}

fn csrf_cookie(auth: &Auth, token: String) -> Cookie<'static> {
    let cfg = config(auth);
    Cookie::build(cfg.csrf_cookie_name.clone(), token)
        .path("/")
        .same_site(SameSite::Lax)
        .secure(cfg.cookie_secure)
        .http_only(false)
        // A year, as Django's CSRF_COOKIE_AGE: the secret outlives sessions.
        .max_age(actix_web::cookie::time::Duration::seconds(31_449_600))
        .finish()
}

/// The `sessionid` cookie carrying `key`, living the idle timeout (`Max-Age`).
fn session_cookie(auth: &Auth, key: String) -> Cookie<'static> {
    let cfg = config(auth);
    let idle = i64::try_from(cfg.idle_timeout).unwrap_or(i64::MAX / 1000).min(10 * 365 * 86400);
    Cookie::build(cfg.cookie_name.clone(), key)
        .path("/")
        .same_site(SameSite::Lax)
        .secure(cfg.cookie_secure)
        .http_only(true)
        .max_age(actix_web::cookie::time::Duration::seconds(idle))
        .finish()
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
    // The trusted origin (configured, or an allowed Host; forwarded headers only from
    // trusted proxies): a host outside the allowed list passes no origin check.
    let own = crate::hosts::own_origin(req, auth)
        .map_err(|_| csrf_failed("Origin checking failed - the request's host is not allowed."))?;
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
/// `form_token`) against the secret of the `csrftoken` cookie, in constant time (Django's
/// double submit: a page of another site can neither read that cookie nor set the header).
///
/// # Errors
/// 403 `csrf_failed` saying which check failed (missing, incorrect, no cookie, bad origin).
pub fn check_csrf(req: &HttpRequest, auth: &Auth, form_token: Option<&str>) -> Result<(), AuthError> {
    check_origin(req, auth)?;
    let cfg = config(auth);
    let header = req.headers().get(cfg.csrf_header_name.as_str()).map(|v| v.to_str().unwrap_or(""));
    let Some(token) = header.or(form_token).filter(|t| !t.is_empty()) else {
        return Err(csrf_failed("CSRF token missing."));
    };
    let Some(secret) = cookie_secret(req, auth) else {
        return Err(csrf_failed("CSRF cookie not set."));
    };
    match unmask(token) {
        Some(given) if bool::from(given.ct_eq(&secret)) => Ok(()),
        _ => Err(csrf_failed("CSRF token incorrect.")),
    }
}

/// The cookies a login sets: the new session's and a new CSRF token's.
#[derive(Debug, Clone)]
pub struct LoginCookies {
    /// `sessionid`: the new session key (HttpOnly, SameSite=Lax, Path=/).
    pub session: Cookie<'static>,
    /// `csrftoken`: a token of a new CSRF secret (the CSRF token changes at login).
    pub csrf: Cookie<'static>,
}

/// Logs `user` in: a new session (a fresh random key, so no fixation) stored with the user,
/// its session hash and the login time, and a new CSRF secret. A session the request
/// carried is deleted first (a planted or stale `sessionid` neither blocks the login nor
/// survives it). Returns the cookies the response must set.
///
/// # Errors
/// 400 `invalid_credentials` when the user is gone; 503 when a store fails.
pub async fn login(req: &HttpRequest, auth: &Auth, user: &User) -> Result<LoginCookies, AuthError> {
    let stored = auth.users().by_id(user.id).await?.ok_or(AuthError::InvalidCredentials)?;
    let cfg = config(auth);
    let store = auth.session_store()?;
    if let Some(old) = cookie_value(req, &cfg.cookie_name).filter(|k| sessions::is_key(k)) {
        store.delete(&sessions::digest(old)).await?;
    }
    let key = sessions::new_key();
    let now = now_ms();
    let record = SessionRecord {
        user_id: user.id,
        user_hash: user_hash(auth, &stored.password_hash),
        login_at: now,
        refreshed_at: now,
        expires_at: now.saturating_add(seconds_ms(cfg.idle_timeout)),
    };
    store.create(&sessions::digest(&key), &record, cfg.idle_timeout).await?;
    tracing::info!(target: "auth::audit", user_id = user.id, action = "session_login", "session created");
    Ok(LoginCookies { session: session_cookie(auth, key), csrf: csrf_cookie(auth, mask(&new_secret())) })
}

/// Logs out: the request's session is deleted server-side and the user's cached entries are
/// revoked on every instance, so a replayed cookie is anonymous. Returns the removal cookie
/// the response must set.
///
/// # Errors
/// 503 when the store fails.
pub async fn logout(req: &HttpRequest, auth: &Auth, user_id: Option<i64>) -> Result<Cookie<'static>, AuthError> {
    let cfg = config(auth);
    if let Some(key) = cookie_value(req, &cfg.cookie_name).filter(|k| sessions::is_key(k)) {
        auth.session_store()?.delete(&sessions::digest(key)).await?;
    }
    if let Some(id) = user_id {
        tracing::info!(target: "auth::audit", user_id = id, action = "session_logout", "session deleted");
        auth.revoked(crate::cache::Subject::User(id)).await;
    }
    let mut removal = session_cookie(auth, String::new());
    removal.make_removal();
    Ok(removal)
}

/// Ends every session of a user from now on (deactivation, password change): sessions
/// logged in before now are "no credentials" on their next request, in any store; database
/// sessions are deleted.
///
/// # Errors
/// 503 on a store failure.
pub async fn end_user_sessions(auth: &Auth, user_id: i64) -> Result<(), AuthError> {
    crate::revocation::revoke_sessions(auth, user_id, now_ms()).await?;
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
    Ok(session_principal(req, auth).await?.and_then(|p| p.user))
}

/// The principal of the request's session (see [`session_user`]): from the principal cache
/// when the same session was verified within its TTL and nothing of its user was revoked
/// since; otherwise one read (the session joined to its user, on the default user table),
/// the checks, and a rare write pushing the idle expiry back.
async fn session_principal(req: &HttpRequest, auth: &Auth) -> Result<Option<Principal>, AuthError> {
    let cfg = config(auth);
    let Some(key) = cookie_value(req, &cfg.cookie_name).filter(|k| sessions::is_key(k)) else {
        return Ok(None);
    };
    let cache = auth.cache().principals();
    let cache_key = GenCache::<Principal>::key(Session::NAME, key.as_bytes());
    if let Some(principal) = cache.get(&cache_key) {
        return Ok(Some(principal));
    }
    let snapshot = cache.snapshot();
    let digest = sessions::digest(key);
    let store = auth.session_store()?;
    let (record, user, password_hash, sessions_not_before) = match store {
        SessionStore::Database(db) if auth.default_users() => {
            let Some(row) = crate::reads::session_by_digest(db, &digest).await? else { return Ok(None) };
            let Ok(record) = serde_json::from_str::<SessionRecord>(&row.state) else { return Ok(None) };
            (record, row.user.user(), row.user.password_hash, row.user.sessions_not_before)
        }
        _ => {
            let Some(record) = store.load(&digest).await? else { return Ok(None) };
            if auth.default_users() {
                let Some(row) = crate::reads::cached_user(auth, record.user_id).await? else { return Ok(None) };
                (record, row.user(), row.password_hash.clone(), row.sessions_not_before)
            } else {
                let Some(stored) = auth.users().by_id(record.user_id).await? else { return Ok(None) };
                let not_before = crate::revocation::sessions_not_before(auth.db(), record.user_id).await?;
                (record, stored.user, stored.password_hash, not_before)
            }
        }
    };
    let now = now_ms();
    let ends_at = record.login_at.saturating_add(seconds_ms(cfg.absolute_lifetime));
    let expected = user_hash(auth, &password_hash);
    let valid = user.is_active
        && user.id == record.user_id
        && bool::from(record.user_hash.as_bytes().ct_eq(expected.as_bytes()))
        && record.expires_at > now
        && now < ends_at
        && record.login_at >= sessions_not_before;
    if !valid {
        return Ok(None);
    }
    // The idle expiry moves only when enough of it has passed (Django's
    // SESSION_SAVE_EVERY_REQUEST=False, plus a rare refresh): one write, and the cookie's
    // Max-Age renewed by the `Sessions` middleware.
    let interval_ms = seconds_ms(cfg.idle_timeout.saturating_mul(cfg.expiry_refresh_percent.min(100)) / 100);
    let mut expires_at = record.expires_at;
    if now.saturating_sub(record.refreshed_at) >= interval_ms {
        expires_at = now.saturating_add(seconds_ms(cfg.idle_timeout));
        let refreshed = SessionRecord { refreshed_at: now, expires_at, ..record };
        store.refresh(&digest, &refreshed, cfg.idle_timeout).await?;
        req.extensions_mut().insert(RenewedCookie(session_cookie(auth, key.to_owned())));
    }
    let user_id = user.id;
    let principal = Principal::for_user(user, Session::NAME, SchemeData::Session);
    let until = chrono::DateTime::from_timestamp_millis(expires_at.min(ends_at));
    cache.insert(cache_key, snapshot, principal.clone(), Some(user_id), None, until);
    Ok(Some(principal))
}

impl Scheme for Session {
    const NAME: &'static str = "session";
    type Config = SessionConfig;

    async fn authenticate(req: &HttpRequest, auth: &Auth) -> Outcome {
        let principal = match session_principal(req, auth).await {
            Ok(Some(principal)) => principal,
            Ok(None) => return Outcome::NoCredentials,
            Err(e) => return Outcome::Rejected(e),
        };
        if !is_safe_method(req)
            && let Err(e) = check_csrf(req, auth, None)
        {
            return Outcome::Rejected(e);
        }
        Outcome::Authenticated(principal)
    }

    /// Sessions have no challenge: a session failure alone is 403 (DRF).
    fn challenge(_: &Auth, _: Option<&AuthError>) -> Option<String> {
        None
    }
}

/// The Session scheme's part in [`crate::lifecycle`]: a password change, deactivation or
/// deletion ends the user's sessions at once (Django's); expired ones are flushed
/// (`sessions`, Django's `clearsessions`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionCredentials;

impl crate::lifecycle::CredentialStore for SessionCredentials {
    fn name(&self) -> &'static str {
        "sessions"
    }

    fn revoke_user<'a>(
        &'a self,
        auth: &'a Auth,
        user_id: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(end_user_sessions(auth, user_id))
    }

    fn user_deactivated<'a>(
        &'a self,
        auth: &'a Auth,
        user_id: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(end_user_sessions(auth, user_id))
    }

    fn delete_expired<'a>(&'a self, auth: &'a Auth) -> futures_util::future::BoxFuture<'a, Result<u64, AuthError>> {
        Box::pin(crate::sessions::delete_expired(auth.db()))
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
