//! OAuth2 (RFC 6749) on the resource side, and the storage of the authorization server
//! (Django OAuth Toolkit's models): applications (clients), grants, authorization codes,
//! access tokens and refresh tokens. The protocol endpoints are in
//! [`endpoints`] and [`crate::endpoints::oauth2`].
//!
//! `Authorization: Bearer <opaque access token>` (RFC 6750 section 2.1). The token is looked
//! up by its SHA-256 digest; its expiry, its own revocation and its grant's revocation are
//! checked, and for a token issued to a user (authorization code grant), that the user exists
//! and is active, on every request. The principal is the user, or for a client-credentials
//! token the client itself (`Principal::user == None`); [`SchemeData::OAuth2`] carries the
//! client id and the token's scopes. A Bearer value shaped like a JWT is not this scheme's
//! (it belongs to [`crate::schemes::Jwt`]), so `Jwt` and `OAuth2` share one chain in either
//! order. Failures are 401 `authentication_failed` with an RFC 6750 `invalid_token`
//! challenge.
//!
//! Storage: secrets (client secrets, codes, access and refresh tokens) are stored only as
//! hex SHA-256 digests. Every token belongs to a *grant* (one consent, or one
//! client-credentials issuance); revoking the grant (`oauth2_grants.revoked_at`) ends every
//! token issued from it at once, including tokens a concurrent request is still inserting.

mod config;
mod credentials;
pub mod endpoints;
pub(crate) mod models;
pub(crate) mod protocol;
pub(crate) mod store;

pub use config::{OAuth2Config, config};
pub use credentials::OAuth2Credentials;
pub use models::{CONFIDENTIAL, GrantType, PUBLIC, entity};
pub use protocol::{
    MAX_REDIRECT_URI, TOKEN_LENGTH, choose_scopes, digest, is_token_shaped, new_token, redirect_uri_matches, split,
    validate_redirect_uri,
};
pub use store::{
    ActiveAccess, ApplicationError, CodeRequest, CreatedApplication, IssuedTokens, NewApplication, check_access_token,
    create_application, create_grant, delete_expired, delete_user_data, epoch, find_access_token, find_application,
    find_code, find_grant, find_refresh_token, issue_code, issue_tokens, live_user, revoke_access_token, revoke_grant,
    revoke_user,
};

use crate::cache::GenCache;
use crate::context::Context;
use crate::error::AuthError;
use crate::header::{Authorization, Credentials};
use crate::header::{bearer_challenge, is_jwt_shaped};
use crate::principal::{Principal, SchemeData};
use crate::scheme::{Outcome, Scheme};
use crate::state::Auth;

/// The OAuth2 scheme (resource side).
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuth2;

fn rejected(detail: &'static str) -> Outcome {
    Outcome::Rejected(AuthError::failed(detail))
}

impl Scheme for OAuth2 {
    const NAME: &'static str = "oauth2";
    type Config = OAuth2Config;

    async fn authenticate(cx: &Context<'_>) -> Outcome {
        let (req, auth) = (cx.request(), cx.auth());
        let Some(header) = Authorization::from_request(req).filter(|h| h.is("bearer")) else {
            return Outcome::NoCredentials;
        };
        let token = match header.credentials() {
            // A JWT is the Jwt scheme's; a bare or split `Bearer` is nobody's (as Jwt says).
            Credentials::One(t) if !is_jwt_shaped(t) => t,
            _ => return Outcome::NoCredentials,
        };
        if !is_token_shaped(token) {
            return rejected("Invalid token.");
        }
        let cache = auth.cache().principals();
        let cache_key = GenCache::<Principal>::key(Self::NAME, token);
        if let Some(principal) = cache.get(&cache_key) {
            return Outcome::Authenticated(principal);
        }
        let snapshot = cache.snapshot();
        let token = String::from_utf8_lossy(token);
        match check_access_token(auth, &token).await {
            Ok(Ok(active)) => {
                let user_id = active.user.as_ref().map(|u| u.id);
                let data = SchemeData::OAuth2 {
                    client_id: active.app.client_id,
                    scopes: split(&active.token.scope),
                    token_id: active.token.id,
                };
                let principal = Principal::new(active.user, Self::NAME, data);
                let expires = Some(active.token.expires_at);
                cache.insert(cache_key, snapshot, principal.clone(), user_id, Some(active.app.id), expires);
                Outcome::Authenticated(principal)
            }
            Ok(Err(detail)) => rejected(detail),
            Err(e) => Outcome::Rejected(e),
        }
    }

    fn challenge(auth: &Auth, rejection: Option<&AuthError>) -> Option<String> {
        let realm = auth.config::<OAuth2Config>().map_or("api", |c| c.realm.as_str());
        Some(bearer_challenge("Bearer", realm, rejection))
    }

    fn describe(auth: &Auth) -> Option<crate::apidoc::SchemeDoc> {
        let mounts = crate::endpoints::mounts(auth);
        let scopes = auth.config::<OAuth2Config>().map(|c| c.scopes.clone()).unwrap_or_default();
        Some(crate::apidoc::SchemeDoc {
            kind: crate::apidoc::SchemeDocKind::OAuth2 {
                authorization_url: Some(mounts.oauth2_path("authorize")),
                token_url: mounts.oauth2_path("token"),
                scopes: scopes
                    .into_iter()
                    .map(|s| {
                        let about = format!("The `{s}` scope.");
                        (s, about)
                    })
                    .collect(),
            },
            description: "An opaque access token of the built-in OAuth2 authorization server (RFC 6749, \
                          RFC 6750 Bearer)."
                .into(),
        })
    }
}
