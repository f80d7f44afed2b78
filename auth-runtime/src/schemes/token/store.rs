//! The Token scheme's storage: the `auth_tokens` table, key generation and digests, and
//! the creation, revocation and flushing of tokens.

use crate::db::Bounded;
use chrono::{Duration, Utc};
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sha2::{Digest, Sha256};

use crate::cache::Subject;
use crate::error::AuthError;
use crate::state::Auth;

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

pub(crate) fn is_key_shaped(key: &[u8]) -> bool {
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
pub async fn revoke(auth: &Auth, token_id: i64) -> Result<bool, AuthError> {
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
pub async fn revoke_user(auth: &Auth, user_id: i64) -> Result<u64, AuthError> {
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
pub async fn delete_expired(db: &DatabaseConnection) -> Result<u64, AuthError> {
    Ok(entity::Entity::delete_many()
        .filter(entity::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .bounded()
        .await?
        .rows_affected)
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
