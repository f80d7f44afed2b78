//! A password login: the lockout of guessing, the bounded queue of hashes, the user's
//! password check, and the confirmation after issuing a credential. Every password endpoint
//! and the Basic scheme go through [`check_password`]; the OAuth2 client authentication
//! through [`login_guard`].
//!
//! This is also where a login will pause for a second factor: between the password check
//! ([`check_password`]) and the credential its caller issues (then confirmed with
//! [`confirm_login`]).

use actix_web::HttpRequest;

use crate::error::AuthError;
use crate::principal::User;
use crate::state::Auth;
use crate::throttling::{LoginGuard, LoginKind, ThrottleConfig};

/// Checks a username and password as every password endpoint does: first the login
/// lockout (429 past the limit of failures for this username or client IP, before any
/// hash is computed); then a place in the bounded queue of hashes
/// ([`crate::passwords::Passwords::admit`]: 429 past the client address's share, 503 with `Retry-After`
/// when the queue is full, at once, the lockout's reservation given back); then the user
/// is looked up, the password verified (a dummy verification when the user does not
/// exist, so timing does not tell who exists), a weak stored hash re-hashed, and
/// inactive users refused. `Ok(None)` for every refusal, whatever its cause.
///
/// # Errors
/// 429 `throttled` when locked out or past the address's share of the hash queue; 503
/// when the hash queue is full (with `Retry-After`) or a store fails.
pub async fn check_password(
    auth: &Auth,
    req: &HttpRequest,
    username: &str,
    password: &str,
) -> Result<Option<User>, AuthError> {
    let guard = login_guard(auth, LoginKind::Password);
    // The attempt is reserved before the hash runs: concurrent guesses cannot all pass
    // a check that counts only finished failures.
    let _attempt = guard.reserve(req, username).await?;
    let ip = crate::throttling::client_ip(req, auth.config::<ThrottleConfig>().map_or(0, |c| c.num_proxies));
    // Load shedding: a place in the bounded hash queue, or a refusal at once (the check
    // did not run: the reservation is given back, as for a store fault).
    let slot = match auth.passwords().admit(&ip) {
        Ok(slot) => slot,
        Err(e) => {
            guard.release(req, username).await;
            return Err(e);
        }
    };
    let user = match verify_password(auth, req, username, password).await {
        Ok(user) => user,
        Err(e) => {
            guard.release(req, username).await;
            return Err(e);
        }
    };
    drop(slot);
    match &user {
        Some(_) => {
            guard.succeeded(req, username).await?;
            tracing::info!(target: "auth::audit", username, %ip, path = req.path(), outcome = "ok", "password check");
        }
        None => {
            guard.failed(req, username).await?;
            tracing::info!(target: "auth::audit", username, %ip, path = req.path(), outcome = "authentication_failed", "password check");
        }
    }
    Ok(user)
}

/// After issuing a credential on the strength of [`check_password`] in this
/// request: whether the user's password (hash) is still the one that was verified and
/// the user still active. A password change racing the login (between the check and the
/// issuance) makes it `false`; the issuer then revokes what it issued and answers as for
/// a wrong password. Together with the check before issuing, no credential obtained with
/// the old password survives a change (a change's revocation runs after its hash update).
///
/// # Errors
/// 503 when the store fails.
pub async fn confirm_login(auth: &Auth, req: &HttpRequest, user: &User) -> Result<bool, AuthError> {
    use actix_web::HttpMessage;
    let Some(verified) = req.extensions().get::<VerifiedHash>().map(|v| v.0.clone()) else {
        return Ok(false);
    };
    hash_unchanged(auth, user.id, &verified).await
}

/// Whether user `id` is still active with `hash` as its stored password hash (one read).
async fn hash_unchanged(auth: &Auth, id: i64, hash: &str) -> Result<bool, AuthError> {
    let current = auth.users().by_id(id).await?;
    Ok(current.is_some_and(|c| c.user.is_active && c.password_hash == hash))
}

/// The lockout of guessing for password checks or OAuth2 client authentication (see
/// [`crate::throttling::LoginGuard`]).
pub fn login_guard(auth: &Auth, kind: LoginKind) -> LoginGuard<'_> {
    LoginGuard::new(auth, kind)
}

async fn verify_password(
    auth: &Auth,
    req: &HttpRequest,
    username: &str,
    password: &str,
) -> Result<Option<User>, AuthError> {
    let stored = auth.users().by_login(username).await?;
    let hash = stored.as_ref().map(|s| s.password_hash.clone());
    let verdict = auth.passwords().verify(password, hash).await?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    if !verdict.valid || !stored.user.is_active {
        return Ok(None);
    }
    // The hash took time (and may have queued): if the password changed or the user was
    // deactivated meanwhile, this check verified a stale hash and must issue nothing.
    if !hash_unchanged(auth, stored.user.id, &stored.password_hash).await? {
        return Ok(None);
    }
    // Kept for `confirm_login`, which issuers call after issuing (the upgraded hash when
    // the stored one is re-hashed below).
    {
        use actix_web::HttpMessage;
        let kept = verdict.rehashed.clone().unwrap_or_else(|| stored.password_hash.clone());
        req.extensions_mut().insert(VerifiedHash(kept));
    }
    if let Some(new_hash) = verdict.rehashed {
        auth.users().set_password_hash(stored.user.id, &new_hash).await?;
    }
    Ok(Some(stored.user))
}

/// The stored hash a password check of this request verified (see [`confirm_login`]).
#[derive(Clone)]
struct VerifiedHash(String);
