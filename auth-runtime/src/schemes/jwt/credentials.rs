//! The Jwt scheme's [`crate::lifecycle::CredentialStore`].

use crate::error::AuthError;
use crate::state::Auth;

use super::tokens::{delete_expired, revoke_user};

/// The Jwt scheme's part in [`crate::lifecycle`]: a password change or deletion revokes
/// every JWT of the user ([`revoke_user`]); refresh-token records of expired tokens are
/// flushed (`refresh_tokens`).
#[derive(Debug, Clone, Copy, Default)]
pub struct JwtCredentials;

impl crate::lifecycle::CredentialStore for JwtCredentials {
    fn name(&self) -> &'static str {
        "refresh_tokens"
    }

    fn revoke_user<'a>(
        &'a self,
        auth: &'a Auth,
        user_id: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(revoke_user(auth, user_id))
    }

    fn delete_expired<'a>(&'a self, auth: &'a Auth) -> futures_util::future::BoxFuture<'a, Result<u64, AuthError>> {
        Box::pin(delete_expired(auth.db()))
    }
}
