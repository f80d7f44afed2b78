//! The Session scheme's [`crate::lifecycle::CredentialStore`].

use crate::error::AuthError;
use crate::state::Auth;

use super::login::end_user_sessions;

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
        Box::pin(super::store::delete_expired(auth.db()))
    }
}
