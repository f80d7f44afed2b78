//! Logging a browser in and out: a new session with its cookie at login (and a new CSRF
//! secret), its deletion at logout, and the end of every session of a user.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::config::config;
use super::csrf::{cookie_value, csrf_cookie, mask, new_secret};
use super::store::{self as sessions, SessionRecord};
use crate::error::AuthError;
use crate::principal::User;
use crate::state::Auth;

/// Django's session verification hash: HMAC-SHA256 of the password hash under a key derived
/// from the secret key. A password change makes it differ, which ends the user's sessions.
pub(crate) fn user_hash(auth: &Auth, password_hash: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&auth.secret_key().derive("session-auth-hash")).expect("any key size");
    mac.update(password_hash.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn seconds_ms(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}

/// The `sessionid` cookie carrying `key`, living the idle timeout (`Max-Age`).
pub(crate) fn session_cookie(auth: &Auth, key: String) -> Cookie<'static> {
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
    let store = sessions::session_store(auth)?;
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
        sessions::session_store(auth)?.delete(&sessions::digest(key)).await?;
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
    super::store::revoke_user(auth.db(), user_id).await?;
    auth.revoked(crate::cache::Subject::User(user_id)).await;
    Ok(())
}
