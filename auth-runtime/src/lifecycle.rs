//! What happens to a user's credentials when the account changes: password change,
//! deactivation, deletion, and the flushing of expired credentials. Every scheme that keeps
//! credentials hooks in here, so the CLI and the app's own admin code end them all at once.

use crate::db::Bounded;
use sea_orm::entity::prelude::*;

use crate::cache::Subject;
use crate::error::AuthError;
use crate::principal::User;
use crate::schemes::{jwt, oauth2, session, token};
use crate::state::Auth;
use crate::users::entity as users;

/// Why a lifecycle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No user has that username.
    #[error("no user named {0:?}")]
    UnknownUser(String),
    /// The store failed.
    #[error("{0}")]
    Auth(#[from] AuthError),
}

impl From<DbErr> for LifecycleError {
    fn from(e: DbErr) -> Self {
        LifecycleError::Auth(e.into())
    }
}

/// The user named `username`.
///
/// # Errors
/// [`LifecycleError::UnknownUser`], or a store failure.
pub async fn find_user(auth: &Auth, username: &str) -> Result<User, LifecycleError> {
    auth.users()
        .by_username(username)
        .await?
        .map(|s| s.user)
        .ok_or_else(|| LifecycleError::UnknownUser(username.to_owned()))
}

/// Sets a new password and ends every credential issued before it: all API tokens, every
/// JWT (access and refresh, through the per-user revocation time), every session and every
/// OAuth2 grant (its access and refresh tokens and pending codes).
///
/// # Errors
/// Unknown user or store failure.
pub async fn change_password(auth: &Auth, username: &str, password: &str) -> Result<User, LifecycleError> {
    let user = find_user(auth, username).await?;
    let hash = auth.passwords().hash(password).await?;
    auth.users().set_password_hash(user.id, &hash).await?;
    auth.revoked(Subject::User(user.id)).await;
    token::revoke_user_tokens(auth, user.id).await?;
    jwt::revoke_all(auth, user.id).await?;
    session::end_user_sessions(auth, user.id).await?;
    oauth2::revoke_user_grants(auth, user.id).await?;
    tracing::info!(target: "auth::audit", user_id = user.id, action = "change_password", "every credential of the user revoked");
    Ok(user)
}

/// Sets `is_active`. Deactivation ends the user's sessions; every other credential (API
/// tokens, JWTs, OAuth2 tokens) is refused while the user is inactive (the schemes check `is_active` on each request), and
/// unexpired ones work again after re-activation.
///
/// # Errors
/// Unknown user or store failure.
pub async fn set_active(auth: &Auth, username: &str, active: bool) -> Result<User, LifecycleError> {
    let user = find_user(auth, username).await?;
    users::Entity::update_many()
        .col_expr(users::Column::IsActive, Expr::value(active))
        .filter(users::Column::Id.eq(user.id))
        .exec(auth.db())
        .bounded()
        .await?;
    if !active {
        session::end_user_sessions(auth, user.id).await?;
    }
    // Cached principals carry `is_active`: drop them either way.
    auth.revoked(Subject::User(user.id)).await;
    tracing::info!(target: "auth::audit", user_id = user.id, action = if active { "activate" } else { "deactivate" }, "user");
    Ok(User { is_active: active, ..user })
}

/// Deletes the user and everything issued to them.
///
/// # Errors
/// Unknown user or store failure.
pub async fn delete_user(auth: &Auth, username: &str) -> Result<(), LifecycleError> {
    let user = find_user(auth, username).await?;
    token::revoke_user_tokens(auth, user.id).await?;
    jwt::revoke_all(auth, user.id).await?;
    session::end_user_sessions(auth, user.id).await?;
    oauth2::delete_user_data(auth, user.id).await?;
    users::Entity::delete_by_id(user.id).exec(auth.db()).bounded().await?;
    auth.revoked(Subject::User(user.id)).await;
    tracing::info!(target: "auth::audit", user_id = user.id, action = "delete_user", "user and every credential deleted");
    Ok(())
}

/// How many expired records [`flush_expired`] deleted, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlushCounts {
    /// Expired API tokens.
    pub api_tokens: u64,
    /// Refresh-token records whose tokens have expired (JWT).
    pub refresh_tokens: u64,
    /// Expired server-side sessions (database store).
    pub sessions: u64,
    /// Expired OAuth2 codes, access tokens and refresh tokens, and grants left without any.
    pub oauth2: u64,
}

/// Deletes expired credentials of every kind.
///
/// # Errors
/// A store failure.
pub async fn flush_expired(auth: &Auth) -> Result<FlushCounts, AuthError> {
    Ok(FlushCounts {
        api_tokens: token::delete_expired_tokens(auth.db()).await?,
        refresh_tokens: jwt::delete_expired(auth.db()).await?,
        sessions: crate::sessions::delete_expired(auth.db()).await?,
        oauth2: oauth2::delete_expired(auth.db()).await?,
    })
}

/// Starts a background task on the current runtime that calls [`flush_expired`] every
/// [`crate::SessionConfig::cleanup_interval`] seconds (the first time after one interval);
/// `None` when the interval is 0. A failed run is logged and retried at the next one. Call it
/// once per serving process (each instance may run it; the deletes are idempotent).
pub fn spawn_flush(auth: Auth) -> Option<actix_web::rt::task::JoinHandle<()>> {
    let every = auth.config::<crate::SessionConfig>().map_or(3600, |c| c.cleanup_interval);
    if every == 0 {
        return None;
    }
    let every = std::time::Duration::from_secs(every);
    Some(actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(every).await;
            match flush_expired(&auth).await {
                Ok(counts) => tracing::debug!(?counts, "expired records deleted"),
                Err(e) => tracing::warn!(error = %e, "deleting expired records failed; retrying at the next interval"),
            }
        }
    }))
}
