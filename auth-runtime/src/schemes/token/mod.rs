//! API tokens (DRF's `TokenAuthentication`, improved as knox does).
//!
//! `Authorization: Token <key>` (keyword configurable, matched case-insensitively). Keys are
//! 32 bytes from the OS CSPRNG, shown once as 64 hex characters; only their SHA-256 digest
//! and an 8-character non-secret prefix are stored. A user may hold many tokens (one per
//! client or device), each with an optional expiry and a last-used time.

mod config;
mod credentials;
pub mod endpoints;
mod store;

pub use config::TokenConfig;
pub use credentials::TokenCredentials;
pub use endpoints::token_routes;
pub use store::{
    IssuedToken, KEY_LENGTH, PREFIX_LENGTH, create_token, delete_expired, digest, entity, revoke, revoke_user,
};

use chrono::{DateTime, Duration, Utc};
use sea_orm::entity::prelude::*;
use subtle::ConstantTimeEq;

use crate::cache::GenCache;
use crate::context::Context;
use crate::db::Bounded;
use crate::error::AuthError;
use crate::header::{Authorization, Credentials};
use crate::principal::{Principal, SchemeData};
use crate::scheme::{Outcome, Scheme};
use crate::state::Auth;
use store::is_key_shaped;

/// The Token scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Token;

async fn check_key(auth: &Auth, key: &[u8], config: &TokenConfig) -> Result<Principal, AuthError> {
    let invalid = || AuthError::failed("Invalid token.");
    if !is_key_shaped(key) {
        return Err(invalid());
    }
    let key = std::str::from_utf8(key).map_err(|_| invalid())?;
    let cache = auth.cache().principals();
    let cache_key = GenCache::<Principal>::key(Token::NAME, key.as_bytes());
    if let Some(principal) = cache.get(&cache_key) {
        return Ok(principal);
    }
    let snapshot = cache.snapshot();
    let wanted = digest(key);
    let now = Utc::now();
    let (record, user) = if auth.default_users() {
        // One statement: the token joined to its user.
        let row = crate::reads::token_by_digest(auth.db(), &wanted).await?.ok_or_else(invalid)?;
        let user = row.user();
        let record =
            Used { id: row.token_id, prefix: row.prefix, expires_at: row.expires_at, last_used_at: row.last_used_at };
        (record, Some(user))
    } else {
        let row = entity::Entity::find()
            .filter(entity::Column::Digest.eq(wanted.as_str()))
            .one(auth.db())
            .bounded()
            .await?
            .ok_or_else(invalid)?;
        if !bool::from(row.digest.as_bytes().ct_eq(wanted.as_bytes())) {
            return Err(invalid());
        }
        let user = auth.users().by_id(row.user_id).await?.map(|s| s.user);
        (Used { id: row.id, prefix: row.prefix, expires_at: row.expires_at, last_used_at: row.last_used_at }, user)
    };
    if record.expires_at.is_some_and(|e| e <= now) {
        return Err(AuthError::failed("Token has expired."));
    }
    let user = match user {
        Some(user) if user.is_active => user,
        _ => return Err(AuthError::failed("User inactive or deleted.")),
    };
    touch(auth, &record, now, config.last_used_interval).await?;
    let user_id = user.id;
    let principal =
        Principal::for_user(user, Token::NAME, SchemeData::Token { token_id: record.id, prefix: record.prefix });
    cache.insert(cache_key, snapshot, principal.clone(), Some(user_id), None, record.expires_at);
    Ok(principal)
}

/// What the scheme needs of a token record.
struct Used {
    id: i64,
    prefix: String,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

/// Records the use, at most once per `interval` seconds (a conditional update, so
/// concurrent requests write once).
async fn touch(auth: &Auth, record: &Used, now: DateTime<Utc>, interval: u64) -> Result<(), AuthError> {
    let threshold = now - Duration::seconds(i64::try_from(interval).unwrap_or(i64::MAX / 1000).min(86400 * 365));
    if record.last_used_at.is_some_and(|t| t > threshold) {
        return Ok(());
    }
    entity::Entity::update_many()
        .col_expr(entity::Column::LastUsedAt, Expr::value(now))
        .filter(entity::Column::Id.eq(record.id))
        .filter(
            sea_orm::Condition::any()
                .add(entity::Column::LastUsedAt.is_null())
                .add(entity::Column::LastUsedAt.lte(threshold)),
        )
        .exec(auth.db())
        .bounded()
        .await?;
    Ok(())
}

impl Scheme for Token {
    const NAME: &'static str = "token";
    type Config = TokenConfig;

    async fn authenticate(cx: &Context<'_>) -> Outcome {
        let (req, auth) = (cx.request(), cx.auth());
        let config = match auth.required_config::<TokenConfig>() {
            Ok(c) => c,
            Err(e) => return Outcome::Rejected(e),
        };
        let Some(header) = Authorization::from_request(req).filter(|h| h.is(&config.keyword)) else {
            return Outcome::NoCredentials;
        };
        let key = match header.credentials() {
            Credentials::Missing => {
                return Outcome::Rejected(AuthError::failed("Invalid token header. No credentials provided."));
            }
            Credentials::TooMany => {
                return Outcome::Rejected(AuthError::failed(
                    "Invalid token header. Token string should not contain spaces.",
                ));
            }
            Credentials::One(key) => key,
        };
        match check_key(auth, key, config).await {
            Ok(principal) => Outcome::Authenticated(principal),
            Err(e) => Outcome::Rejected(e),
        }
    }

    fn challenge(auth: &Auth, _rejection: Option<&AuthError>) -> Option<String> {
        Some(auth.config::<TokenConfig>().map_or("Token", |c| c.keyword.as_str()).to_owned())
    }

    fn describe(auth: &Auth) -> Option<crate::apidoc::SchemeDoc> {
        let keyword = auth.config::<TokenConfig>().map_or("Token", |c| c.keyword.as_str());
        Some(crate::apidoc::SchemeDoc {
            kind: crate::apidoc::SchemeDocKind::ApiKey {
                location: crate::apidoc::KeyLocation::Header,
                name: "Authorization".into(),
            },
            description: format!("An API token (DRF's TokenAuthentication): `Authorization: {keyword} <token>`.")
                .into(),
        })
    }
}
