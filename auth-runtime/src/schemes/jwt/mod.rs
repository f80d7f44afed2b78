//! JSON Web Tokens: access and refresh tokens with rotation and a blacklist (Simple JWT),
//! with the defaults RFC 8725 asks for.
//!
//! `Authorization: Bearer <access JWT>`. A Bearer value that is not shaped like a JWT (three
//! dot-separated base64url segments) is not this scheme's: it passes to the next scheme, so
//! `Jwt` and `OAuth2` share one chain.
//!
//! Checks, in order: shape and size; header `typ` (explicit typing, RFC 8725 section 3.11:
//! `at+jwt` for access, `refresh+jwt` for refresh, `sliding+jwt` for sliding tokens); the
//! signature with exactly the configured algorithm of the key (so `alg: none`, RS/HS
//! confusion and unexpected algorithms fail), the key chosen by `kid` when several verify;
//! `exp` (required), `nbf`, `iat` (required, not in the future), leeway, `aud` and `iss`
//! when configured; the `token_type` claim; the user (exists, active) and the per-user
//! revocation time. Every failure is 401 `token_not_valid` with an RFC 6750 challenge.

mod config;
mod credentials;
pub mod endpoints;
mod keys;
pub(crate) mod models;
mod tokens;

pub use config::{ClaimsHook, JwtClaims, JwtConfig, MAX_TOKEN_BYTES, TokenKind, VerifyingKey};
pub use credentials::JwtCredentials;
pub use endpoints::jwt_routes;
pub(crate) use keys::KeyCache;
pub use keys::check_config;
pub use models::entity;
pub use tokens::{
    Refreshed, TokenPair, VerifiedToken, blacklist, delete_expired, invalid, issue_access, issue_pair, issue_sliding,
    refresh, refresh_sliding, revoke_user, token_user, verify, verify_any,
};

use std::sync::Arc;

use chrono::DateTime;

use crate::context::Context;
use crate::error::AuthError;
use crate::header::{Authorization, Credentials};
use crate::principal::{Principal, SchemeData};
use crate::scheme::{Outcome, Scheme};
use crate::state::Auth;

/// The Jwt scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Jwt;

pub use crate::header::{bearer_challenge, is_jwt_shaped};

pub use crate::revocation::{revoke_sessions, sessions_not_before};
impl Scheme for Jwt {
    const NAME: &'static str = "jwt";
    type Config = JwtConfig;

    async fn authenticate(cx: &Context<'_>) -> Outcome {
        let (req, auth) = (cx.request(), cx.auth());
        let config = match auth.required_config::<JwtConfig>() {
            Ok(c) => c,
            Err(e) => return Outcome::Rejected(e),
        };
        let Some(header) =
            req.headers().get(config.auth_header_name.as_str()).and_then(|v| Authorization::parse(v.as_bytes()))
        else {
            return Outcome::NoCredentials;
        };
        if !config.auth_header_types.iter().any(|t| header.is(t)) {
            return Outcome::NoCredentials;
        }
        let token = match header.credentials() {
            Credentials::One(t) if is_jwt_shaped(t) => t,
            // Not a JWT: perhaps an opaque OAuth2 token, for the next scheme.
            Credentials::One(_) | Credentials::Missing | Credentials::TooMany => {
                return Outcome::NoCredentials;
            }
        };
        // A token verified lately is served from the principal cache (until its `exp`, and
        // never after a revocation of its user): no signature check, no claims parsing.
        let cache = auth.cache().principals();
        let cache_key = crate::cache::GenCache::<Principal>::key(Self::NAME, token);
        if let Some(principal) = cache.get(&cache_key) {
            return Outcome::Authenticated(principal);
        }
        let snapshot = cache.snapshot();
        let token = String::from_utf8_lossy(token);
        let mut kinds = vec![TokenKind::Access];
        if config.sliding {
            kinds.push(TokenKind::Sliding);
        }
        let result = async {
            let verified = verify(auth, &token, &kinds, true)?;
            let user = token_user(auth, &verified).await?;
            let exp = DateTime::from_timestamp(i64::try_from(verified.exp).unwrap_or(0), 0);
            let user_id = user.id;
            let authentication = token_authentication(&verified);
            let principal = Principal::for_user(
                user,
                Self::NAME,
                SchemeData::Jwt { jti: verified.jti, claims: Arc::new(verified.claims) },
            )
            .authenticated(authentication.at, authentication.methods);
            cache.insert(cache_key, snapshot, principal.clone(), Some(user_id), None, exp);
            Ok::<_, AuthError>(principal)
        }
        .await;
        match result {
            Ok(p) => Outcome::Authenticated(p),
            Err(e) => Outcome::Rejected(e),
        }
    }

    fn challenge(auth: &Auth, rejection: Option<&AuthError>) -> Option<String> {
        let realm = auth.config::<JwtConfig>().map_or("api", |c| c.realm.as_str());
        let keyword =
            auth.config::<JwtConfig>().and_then(|c| c.auth_header_types.first()).map_or("Bearer", String::as_str);
        Some(bearer_challenge(keyword, realm, rejection))
    }

    fn describe(auth: &Auth) -> Option<crate::apidoc::SchemeDoc> {
        let keyword =
            auth.config::<JwtConfig>().and_then(|c| c.auth_header_types.first()).map_or("Bearer", String::as_str);
        let description = format!("A JWT access token (Simple JWT): `Authorization: {keyword} <token>`.").into();
        // OpenAPI's `http` type names registered auth-schemes only: another keyword is a
        // header key with a prefix.
        let kind = if keyword.eq_ignore_ascii_case("bearer") {
            crate::apidoc::SchemeDocKind::Http { scheme: "bearer".into(), bearer_format: Some("JWT") }
        } else {
            crate::apidoc::SchemeDocKind::ApiKey {
                location: crate::apidoc::KeyLocation::Header,
                name: "Authorization".into(),
            }
        };
        Some(crate::apidoc::SchemeDoc { kind, description })
    }
}

/// How and when a token's user proved who they are: its `auth_time` claim (else its `iat`:
/// tokens are issued by a password login or a refresh of one) and its `amr` claim (else
/// `pwd`).
fn token_authentication(token: &VerifiedToken) -> crate::principal::Authentication {
    use crate::principal::{AuthMethods, Authentication};
    let at = token.claims.get("auth_time").and_then(serde_json::Value::as_i64).or(i64::try_from(token.iat).ok());
    let methods = match token.claims.get("amr").and_then(serde_json::Value::as_array) {
        Some(values) => values
            .iter()
            .filter_map(|v| v.as_str().and_then(AuthMethods::from_amr))
            .fold(AuthMethods::NONE, |all, m| all | m),
        None => AuthMethods::PWD,
    };
    Authentication::new(at, methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_from_auth_time_and_amr_claims() {
        use crate::principal::AuthMethods;
        let token = |claims: serde_json::Value| VerifiedToken {
            kind: TokenKind::Access,
            jti: "j".into(),
            iat: 1_700_000_000,
            exp: 1_700_000_300,
            user: "1".into(),
            claims: claims.as_object().unwrap().clone(),
        };
        let plain = token_authentication(&token(serde_json::json!({})));
        assert_eq!((plain.at, plain.methods), (Some(1_700_000_000), AuthMethods::PWD));
        let stepped =
            token_authentication(&token(serde_json::json!({"auth_time": 1_699_999_000, "amr": ["pwd", "otp", "x"]})));
        assert_eq!((stepped.at, stepped.methods), (Some(1_699_999_000), AuthMethods::PWD | AuthMethods::OTP));
    }

    #[test]
    fn shape() {
        assert!(is_jwt_shaped(b"eyJh.eyJz.c2ln"));
        assert!(is_jwt_shaped(b"eyJh.eyJz."), "alg none is the scheme's to reject");
        assert!(!is_jwt_shaped(b"a.b"));
        assert!(!is_jwt_shaped(b"a.b.c.d"));
        assert!(!is_jwt_shaped(b"opaque-token_value"));
        assert!(!is_jwt_shaped(b"a+b.c.d"));
        assert!(!is_jwt_shaped(b".b.c"));
    }

    #[test]
    fn challenges() {
        assert_eq!(bearer_challenge("Bearer", "api", None), "Bearer realm=\"api\"");
        let c = bearer_challenge("Bearer", "api", Some(&invalid("Token is expired.")));
        assert_eq!(c, "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"Token is expired.\"");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Any bytes: shaped exactly when they are three dot-separated base64url runs, the
            /// first two non-empty.
            #[test]
            fn shape_of_any_bytes(token in proptest::collection::vec(any::<u8>(), 0..120)) {
                let text = String::from_utf8_lossy(&token);
                let parts: Vec<&str> = text.split('.').collect();
                let b64url = |p: &&str| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                let expected = token.is_ascii() && parts.len() == 3 && !parts[0].is_empty() && !parts[1].is_empty() && parts.iter().all(b64url);
                prop_assert_eq!(is_jwt_shaped(&token), expected);
            }

            /// Tokens made of the base64url alphabet and dots.
            #[test]
            fn shape_of_dotted_strings(token in "[A-Za-z0-9_.-]{0,40}") {
                let parts: Vec<&str> = token.split('.').collect();
                let expected = parts.len() == 3 && !parts[0].is_empty() && !parts[1].is_empty();
                prop_assert_eq!(is_jwt_shaped(token.as_bytes()), expected);
            }
        }
    }
}
