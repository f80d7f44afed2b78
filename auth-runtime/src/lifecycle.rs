//! What happens to a user's credentials when the account changes: password change,
//! deactivation, deletion, and the flushing of expired credentials.
//!
//! Every scheme that stores credentials registers a [`CredentialStore`] with the
//! [`crate::AuthBuilder`] (the built-in Token, Jwt, Session and OAuth2 schemes are registered
//! by [`Auth::builder`]; an app's own with [`crate::AuthBuilder::credentials`]); the functions
//! here go through the registered stores in registration order instead of naming schemes, so
//! the CLI and the app's own admin code end them all at once, a custom scheme included.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::cache::Subject;
use crate::error::AuthError;
use crate::principal::User;
use crate::state::Auth;
use crate::users::{NewUser, UserRecord, is_valid_username, normalize_username};

/// What a scheme that stores credentials does when its user's account changes, and how its
/// expired records go (knox's and Simple JWT's `flushexpiredtokens`, Django's
/// `clearsessions`, Django OAuth Toolkit's `cleartokens`).
pub trait CredentialStore: Send + Sync + 'static {
    /// The key of its count in [`FlushCounts`], e.g. `"api_tokens"`.
    fn name(&self) -> &'static str;

    /// Ends every credential issued to the user (a password change).
    fn revoke_user<'a>(&'a self, auth: &'a Auth, user_id: i64) -> BoxFuture<'a, Result<(), AuthError>>;

    /// The user was deactivated. The default does nothing: every scheme refuses an inactive
    /// user's credentials on each request, and unexpired ones work again after
    /// re-activation. (Sessions end at once, as Django's do.)
    fn user_deactivated<'a>(&'a self, auth: &'a Auth, user_id: i64) -> BoxFuture<'a, Result<(), AuthError>> {
        let _ = (auth, user_id);
        Box::pin(async { Ok(()) })
    }

    /// The user is about to be deleted: remove what is stored for them. The default is
    /// [`CredentialStore::revoke_user`].
    fn user_deleted<'a>(&'a self, auth: &'a Auth, user_id: i64) -> BoxFuture<'a, Result<(), AuthError>> {
        self.revoke_user(auth, user_id)
    }

    /// Deletes expired records; returns how many. The default deletes nothing, for
    /// credentials that never expire.
    fn delete_expired<'a>(&'a self, auth: &'a Auth) -> BoxFuture<'a, Result<u64, AuthError>> {
        let _ = auth;
        Box::pin(async { Ok(0) })
    }
}

/// The registered [`CredentialStore`]s, in registration order (the built-in Token, Jwt,
/// Session and OAuth2 ones first): the builder ([`crate::AuthBuilder::credentials`]) keeps
/// them in [`Auth`].
pub(crate) struct CredentialStores(pub(crate) Vec<Arc<dyn CredentialStore>>);

/// The registered [`CredentialStore`]s of `auth`, in registration order (the built-in
/// Token, Jwt, Session and OAuth2 ones first).
pub fn credential_stores(auth: &Auth) -> impl Iterator<Item = &dyn CredentialStore> {
    auth.config::<CredentialStores>().into_iter().flat_map(|s| s.0.iter().map(|s| &**s))
}

/// Why a lifecycle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No user has that login name.
    #[error("no user named {0:?}")]
    UnknownUser(String),
    /// The store failed.
    #[error("{0}")]
    Auth(#[from] AuthError),
}

impl From<sea_orm::DbErr> for LifecycleError {
    fn from(e: sea_orm::DbErr) -> Self {
        LifecycleError::Auth(e.into())
    }
}

/// The user whose login name is `login`, through the app's user store.
///
/// # Errors
/// [`LifecycleError::UnknownUser`], or a store failure.
pub async fn find_user(auth: &Auth, login: &str) -> Result<User, LifecycleError> {
    auth.users().by_login(login).await?.map(|s| s.user).ok_or_else(|| LifecycleError::UnknownUser(login.to_owned()))
}

/// Sets a new password and ends every credential issued before it (every registered
/// [`CredentialStore`]'s `revoke_user`: API tokens, every JWT through the per-user
/// revocation time, sessions, OAuth2 grants with their tokens and codes), and the cached
/// principals on every instance.
///
/// # Errors
/// Unknown user or store failure.
pub async fn change_password(auth: &Auth, login: &str, password: &str) -> Result<User, LifecycleError> {
    let user = find_user(auth, login).await?;
    let hash = auth.passwords().hash(password).await?;
    auth.users().set_password_hash(user.id, &hash).await?;
    auth.revoked(Subject::User(user.id)).await;
    for store in credential_stores(auth) {
        store.revoke_user(auth, user.id).await?;
    }
    tracing::info!(target: "auth::audit", user_id = user.id, action = "change_password", "every credential of the user revoked");
    Ok(user)
}

/// Sets `is_active` through the user store. Deactivation calls every registered
/// [`CredentialStore`]'s `user_deactivated` (sessions end); every other credential is refused
/// while the user is inactive (the schemes check `is_active` on each request), and unexpired
/// ones work again after re-activation.
///
/// # Errors
/// Unknown user or store failure.
pub async fn set_active(auth: &Auth, login: &str, active: bool) -> Result<User, LifecycleError> {
    let user = find_user(auth, login).await?;
    auth.users().set_active(user.id, active).await?;
    if !active {
        for store in credential_stores(auth) {
            store.user_deactivated(auth, user.id).await?;
        }
    }
    // Cached principals carry `is_active`: drop them either way.
    auth.revoked(Subject::User(user.id)).await;
    tracing::info!(target: "auth::audit", user_id = user.id, action = if active { "activate" } else { "deactivate" }, "user");
    Ok(User { is_active: active, ..user })
}

/// Deletes the user and everything issued to them (every registered [`CredentialStore`]'s
/// `user_deleted`, then the user store's row).
///
/// # Errors
/// Unknown user or store failure.
pub async fn delete_user(auth: &Auth, login: &str) -> Result<(), LifecycleError> {
    let user = find_user(auth, login).await?;
    for store in credential_stores(auth) {
        store.user_deleted(auth, user.id).await?;
    }
    auth.users().delete(user.id).await?;
    auth.revoked(Subject::User(user.id)).await;
    tracing::info!(target: "auth::audit", user_id = user.id, action = "delete_user", "user and every credential deleted");
    Ok(())
}

/// How many expired records [`flush_expired`] deleted, per registered [`CredentialStore`]
/// (by its name, in registration order; serialised as one JSON object, e.g.
/// `{"api_tokens": 0, "refresh_tokens": 2, "sessions": 1, "oauth2": 0}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushCounts(pub Vec<(&'static str, u64)>);

impl FlushCounts {
    /// The count of the store named `name`; 0 for an unknown name.
    pub fn get(&self, name: &str) -> u64 {
        self.0.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c)
    }
}

impl serde::Serialize for FlushCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, count) in &self.0 {
            map.serialize_entry(name, count)?;
        }
        map.end()
    }
}

/// Deletes expired credentials of every registered [`CredentialStore`].
///
/// # Errors
/// A store failure.
pub async fn flush_expired(auth: &Auth) -> Result<FlushCounts, AuthError> {
    let mut counts = Vec::new();
    for store in credential_stores(auth) {
        counts.push((store.name(), store.delete_expired(auth).await?));
    }
    Ok(FlushCounts(counts))
}

/// Starts a background task on the current runtime that calls [`flush_expired`] every
/// [`crate::schemes::session::SessionConfig::cleanup_interval`] seconds (the first time after one interval);
/// `None` when the interval is 0. A failed run is logged and retried at the next one. Call it
/// once per serving process (each instance may run it; the deletes are idempotent).
pub fn spawn_flush(auth: Auth) -> Option<actix_web::rt::task::JoinHandle<()>> {
    let every = auth.config::<crate::schemes::session::SessionConfig>().map_or(3600, |c| c.cleanup_interval);
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

/// Why [`create_user`] refused.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The username is not 1 to 150 letters, digits and `@.+-_`.
    #[error("invalid username: use 1 to 150 letters, digits and @.+-_")]
    InvalidUsername,
    /// A user with this login name exists.
    #[error("a user with that username already exists")]
    Exists,
    /// The store failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Creates a user through the app's [`crate::users::UserStore`], hashing the password with `auth`'s
/// hasher (Django's `UserManager.create_user`).
///
/// # Errors
/// [`CreateUserError`]: invalid username, existing user, store failure (503).
pub async fn create_user(auth: &Auth, mut new: NewUser) -> Result<User, CreateUserError> {
    new.username = normalize_username(&new.username);
    if !is_valid_username(&new.username) {
        return Err(CreateUserError::InvalidUsername);
    }
    let password_hash = auth.passwords().hash(&new.password).await?;
    let record = UserRecord {
        username: new.username,
        email: new.email,
        password_hash,
        is_staff: new.is_staff,
        is_active: new.is_active,
    };
    auth.users().create(record).await.map_err(AuthError::from)?.ok_or(CreateUserError::Exists)
}

/// Every user of the app's [`crate::users::UserStore`], in its order (the default table: by username).
///
/// # Errors
/// 503 when the store fails.
pub async fn list_users(auth: &Auth) -> Result<Vec<User>, AuthError> {
    Ok(auth.users().list().await?)
}
