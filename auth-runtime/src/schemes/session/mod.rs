//! Session authentication with CSRF protection (DRF's `SessionAuthentication` on Django's
//! sessions and CSRF middleware).
//!
//! The browser carries the `sessionid` cookie; the session lives server-side (see
//! [`store`]). A missing, unknown, expired or logged-out session is "no
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

mod config;
mod credentials;
pub mod csrf;
pub mod endpoints;
mod login;
pub mod store;

pub use config::{SessionConfig, SessionStoreKind};
pub use credentials::SessionCredentials;
pub use csrf::{CSRF_FORM_FIELD, check_csrf, csrf_failed, csrf_token, mask, unmask};
pub use endpoints::{login_page_routes, session_routes};
pub use login::{LoginCookies, end_user_sessions, login, logout};

use actix_web::{HttpMessage, HttpRequest};
use subtle::ConstantTimeEq;

use crate::cache::GenCache;
use crate::context::Context;
use crate::error::AuthError;
use crate::permissions::is_safe_method;
use crate::principal::{Principal, SchemeData, User};
use crate::scheme::{Outcome, Scheme};
use crate::state::Auth;
use config::config;
use csrf::cookie_value;
use login::{now_ms, seconds_ms, session_cookie, user_hash};
use store::{RenewedCookie, SessionRecord, SessionStore};

/// The Session scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Session;

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
    let Some(key) = cookie_value(req, &cfg.cookie_name).filter(|k| store::is_key(k)) else {
        return Ok(None);
    };
    let cache = auth.cache().principals();
    let cache_key = GenCache::<Principal>::key(Session::NAME, key.as_bytes());
    if let Some(principal) = cache.get(&cache_key) {
        return Ok(Some(principal));
    }
    let snapshot = cache.snapshot();
    let digest = store::digest(key);
    let store = store::session_store(auth)?;
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
    // Sessions begin with a password login.
    let principal = Principal::for_user(user, Session::NAME, SchemeData::Session)
        .authenticated(Some(record.login_at.div_euclid(1000)), crate::principal::AuthMethods::PWD);
    let until = chrono::DateTime::from_timestamp_millis(expires_at.min(ends_at));
    cache.insert(cache_key, snapshot, principal.clone(), Some(user_id), None, until);
    Ok(Some(principal))
}

impl Scheme for Session {
    const NAME: &'static str = "session";
    type Config = SessionConfig;

    async fn authenticate(cx: &Context<'_>) -> Outcome {
        let (req, auth) = (cx.request(), cx.auth());
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

    fn describe(auth: &Auth) -> Option<crate::apidoc::SchemeDoc> {
        let cookie = auth.config::<SessionConfig>().map_or("sessionid", |c| c.cookie_name.as_str());
        Some(crate::apidoc::SchemeDoc {
            kind: crate::apidoc::SchemeDocKind::ApiKey {
                location: crate::apidoc::KeyLocation::Cookie,
                name: cookie.to_owned().into(),
            },
            description: "A server-side session (Django's): log in through the session endpoints; unsafe \
                          methods also need the CSRF token in `X-CSRFToken`."
                .into(),
        })
    }
}
