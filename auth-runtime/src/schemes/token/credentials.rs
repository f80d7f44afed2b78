//! The Token scheme's [`crate::lifecycle::CredentialStore`].

use crate::error::AuthError;
use crate::state::Auth;

use super::store::{delete_expired, revoke_user};

/// The Token scheme's part in [`crate::lifecycle`]: a password change or deletion deletes
/// the user's API tokens; expired ones are flushed (`api_tokens`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenCredentials;

impl crate::lifecycle::CredentialStore for TokenCredentials {
    fn name(&self) -> &'static str {
        "api_tokens"
    }

    fn revoke_user<'a>(
        &'a self,
        auth: &'a Auth,
        user_id: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(async move { revoke_user(auth, user_id).await.map(drop) })
    }

    fn delete_expired<'a>(&'a self, auth: &'a Auth) -> futures_util::future::BoxFuture<'a, Result<u64, AuthError>> {
        Box::pin(delete_expired(auth.db()))
    }
}
