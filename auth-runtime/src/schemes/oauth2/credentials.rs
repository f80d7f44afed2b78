//! The OAuth2 scheme's [`crate::lifecycle::CredentialStore`].

use crate::error::AuthError;
use crate::state::Auth;

use super::store::{delete_expired, delete_user_data, revoke_user};

/// The OAuth2 scheme's part in [`crate::lifecycle`]: a password change revokes the user's
/// grants (their tokens and codes), deletion deletes them; expired codes and tokens are
/// flushed (`oauth2`, Django OAuth Toolkit's `cleartokens`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuth2Credentials;

impl crate::lifecycle::CredentialStore for OAuth2Credentials {
    fn name(&self) -> &'static str {
        "oauth2"
    }

    fn revoke_user<'a>(
        &'a self,
        auth: &'a Auth,
        user_id: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(revoke_user(auth, user_id))
    }

    fn user_deleted<'a>(
        &'a self,
        auth: &'a Auth,
        user_id: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(delete_user_data(auth, user_id))
    }

    fn delete_expired<'a>(&'a self, auth: &'a Auth) -> futures_util::future::BoxFuture<'a, Result<u64, AuthError>> {
        Box::pin(delete_expired(auth.db()))
    }
}
