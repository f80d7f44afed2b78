//! API tokens (DRF's `TokenAuthentication`, improved as knox does).
//!
//! `Authorization: Token <key>` (keyword configurable, matched case-insensitively). Keys are
//! 32 bytes from the OS CSPRNG, shown once as 64 hex characters; only their SHA-256 digest
//! and an 8-character non-secret prefix are stored. A user may hold many tokens (one per
//! client or device), each with an optional expiry and a last-used time.

use crate::db::Bounded;
use actix_web::HttpRequest;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::cache::{GenCache, Subject};
use crate::error::AuthError;
use crate::header::{Authorization, Credentials};
use crate::principal::{Principal, SchemeData};
use crate::scheme::{Outcome, Scheme};
use crate::state::Auth;

/// The Token scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Token;

/// Configuration of [`Token`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct TokenConfig {
    /// The auth-scheme keyword of the header. Default `"Token"` (DRF's).
    pub keyword: String,
    /// Lifetime of tokens issued by `POST /api/auth/token`, in seconds; `None`: no expiry.
    pub ttl: Option<u64>,
    /// The last-used time is written at most once per this many seconds per token (knox's
    /// `MIN_REFRESH_INTERVAL`), so reads do not turn into a write each. Default 60.
    pub last_used_interval: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig { keyword: "Token".into(), ttl: None, last_used_interval: 60 }
    }
}

/// Length of a key in hex characters (32 random bytes).
pub const KEY_LENGTH: usize = 64;
/// Length of the stored, non-secret prefix of a key.
pub const PREFIX_LENGTH: usize = 8;

/// The sea-orm entity of the `auth_tokens` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A row of `auth_tokens`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_tokens")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Owner (`users.id`); tokens are deleted with their user.
        pub user_id: i64,
        /// Hex SHA-256 of the key; the key itself is never stored.
        #[sea_orm(unique)]
        pub digest: String,
        /// First 8 characters of the key, for display.
        pub prefix: String,
        /// Creation time (UTC).
        pub created_at: DateTimeUtc,
        /// Expiry (UTC); `None`: never.
        pub expires_at: Option<DateTimeUtc>,
        /// Last authenticated use (UTC), updated at most once per interval.
        pub last_used_at: Option<DateTimeUtc>,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The hex SHA-256 digest of a key, as stored.
pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn is_key_shaped(key: &[u8]) -> bool {
    key.len() == KEY_LENGTH && key.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// A token just created: the key (shown once) and its record.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The secret key, 64 hex characters. Not stored anywhere.
    pub key: String,
    /// The stored record.
    pub record: entity::Model,
}

/// Creates a token for `user_id`, expiring after `ttl_seconds` (`None`: never).
///
/// # Errors
/// 503 when the store fails.
pub async fn create_token(
    db: &DatabaseConnection,
    user_id: i64,
    ttl_seconds: Option<u64>,
) -> Result<IssuedToken, AuthError> {
    let mut bytes = [0u8; KEY_LENGTH / 2];
    rand::rng().fill_bytes(&mut bytes);
    let key = hex::encode(bytes);
    let now = Utc::now();
    let expires_at = ttl_seconds
        .map(|s| now + Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000).min(100 * 365 * 86400)));
    let record = entity::ActiveModel {
        user_id: Set(user_id),
        digest: Set(digest(&key)),
        prefix: Set(key[..PREFIX_LENGTH].to_owned()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .bounded()
    .await?;
    Ok(IssuedToken { key, record })
}

/// Deletes one token; returns whether it existed. Its user's cached principals are dropped
/// (see [`crate::cache`]) before this returns.
///
/// # Errors
/// 503 when the store fails.
pub async fn revoke_token(auth: &Auth, token_id: i64) -> Result<bool, AuthError> {
    let Some(record) = entity::Entity::find_by_id(token_id).one(auth.db()).bounded().await? else {
        return Ok(false);
    };
    let deleted = entity::Entity::delete_by_id(token_id).exec(auth.db()).bounded().await?.rows_affected > 0;
    auth.revoked(Subject::User(record.user_id)).await;
    Ok(deleted)
}

/// Deletes every token of a user (knox's logout-all); returns how many. The user's cached
/// principals are dropped before this returns.
///
/// # Errors
/// 503 when the store fails.
pub async fn revoke_user_tokens(auth: &Auth, user_id: i64) -> Result<u64, AuthError> {
    let n = entity::Entity::delete_many()
        .filter(entity::Column::UserId.eq(user_id))
        .exec(auth.db())
        .bounded()
        .await?
        .rows_affected;
    auth.revoked(Subject::User(user_id)).await;
    Ok(n)
}

/// Deletes tokens whose expiry has passed; returns how many.
///
/// # Errors
/// 503 when the store fails.
pub async fn delete_expired_tokens(db: &DatabaseConnection) -> Result<u64, AuthError> {
    Ok(entity::Entity::delete_many()
        .filter(entity::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .bounded()
        .await?
        .rows_affected)
}

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

    async fn authenticate(req: &HttpRequest, auth: &Auth) -> Outcome {
        let config = match auth.scheme_config::<Self>() {
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
}

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
        Box::pin(async move { revoke_user_tokens(auth, user_id).await.map(drop) })
    }

    fn delete_expired<'a>(&'a self, auth: &'a Auth) -> futures_util::future::BoxFuture<'a, Result<u64, AuthError>> {
        Box::pin(delete_expired_tokens(auth.db()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shape() {
        assert!(is_key_shaped("0123456789abcdef".repeat(4).as_bytes()));
        assert!(!is_key_shaped("0123456789ABCDEF".repeat(4).as_bytes()));
        assert!(!is_key_shaped(b"abc"));
        assert!(!is_key_shaped("g".repeat(64).as_bytes()));
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
