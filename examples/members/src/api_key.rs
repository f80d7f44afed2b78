//! The `X-Api-Key` scheme: keys stored as SHA-256 digests in `api_keys`, one member each,
//! and the [`CredentialStore`] that revokes a member's keys when their password changes or
//! they are deleted.

use auth_runtime::Context;
use auth_runtime::cache::Subject;
use auth_runtime::db::Bounded;
use auth_runtime::lifecycle::CredentialStore;
use auth_runtime::{Auth, AuthError, Outcome, Principal, Scheme, SchemeData};
use futures_util::future::BoxFuture;
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sha2::{Digest, Sha256};

/// The `api_keys` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// An API key; the key itself is never stored.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The owner (`members.id`).
        pub member_id: i64,
        /// Hex SHA-256 of the key, unique.
        #[sea_orm(unique)]
        pub digest: String,
        /// The first characters of the key, to tell keys apart.
        pub prefix: String,
        /// Creation time (UTC).
        pub created_at: DateTimeUtc,
    }

    /// No relations declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `X-Api-Key: <key>`: a key from [`create_api_key`], mapped to its member.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiKey;

/// Configuration of [`ApiKey`]: the realm of its challenge.
#[derive(Debug, Clone)]
pub struct ApiKeyConfig {
    /// Default `members`: the challenge is `ApiKey realm="members"`.
    pub realm: String,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        ApiKeyConfig { realm: "members".into() }
    }
}

/// The hex SHA-256 digest of a key, as stored.
pub fn digest(key: &[u8]) -> String {
    hex::encode(Sha256::digest(key))
}

impl Scheme for ApiKey {
    const NAME: &'static str = "api_key";
    type Config = ApiKeyConfig;

    async fn authenticate(cx: &Context<'_>) -> Outcome {
        let (req, auth) = (cx.request(), cx.auth());
        let Some(given) = req.headers().get("x-api-key") else { return Outcome::NoCredentials };
        let invalid = || Outcome::Rejected(AuthError::failed("Invalid API key."));
        // Looked up by digest: the secret is never compared byte by byte, so its timing
        // tells nothing (the digest of a guess is unrelated to the stored ones).
        let found = entity::Entity::find()
            .filter(entity::Column::Digest.eq(digest(given.as_bytes())))
            .one(auth.db())
            .bounded()
            .await;
        let key = match found {
            Ok(Some(key)) => key,
            Ok(None) => return invalid(),
            Err(e) => return Outcome::Rejected(AuthError::store(e)), // 503, never 401
        };
        match auth.users().by_id(key.member_id).await {
            Ok(Some(stored)) if stored.user.is_active => {
                let data = SchemeData::Custom(format!("api_key:{}", key.prefix).into());
                Outcome::Authenticated(Principal::for_user(stored.user, Self::NAME, data))
            }
            Ok(_) => invalid(),
            Err(e) => Outcome::Rejected(AuthError::store(e)),
        }
    }

    fn challenge(auth: &Auth, _: Option<&AuthError>) -> Option<String> {
        let realm = auth.config::<ApiKeyConfig>().map_or("members", |c| c.realm.as_str());
        Some(format!("ApiKey realm={}", auth_runtime::header::quote(realm)))
    }
}

/// Creates a key for `member_id` and returns it: `mk_` and 64 hex characters, shown once
/// (only its digest is stored).
///
/// # Errors
/// 503 when the database fails.
pub async fn create_api_key(auth: &Auth, member_id: i64) -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("mk_{}", hex::encode(bytes));
    entity::ActiveModel {
        member_id: Set(member_id),
        digest: Set(digest(key.as_bytes())),
        prefix: Set(key[..11].to_owned()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(auth.db())
    .bounded()
    .await?;
    Ok(key)
}

/// Deletes every key of a member; returns how many.
///
/// # Errors
/// 503 when the database fails.
pub async fn revoke_member_keys(auth: &Auth, member_id: i64) -> Result<u64, AuthError> {
    let n = entity::Entity::delete_many()
        .filter(entity::Column::MemberId.eq(member_id))
        .exec(auth.db())
        .bounded()
        .await?
        .rows_affected;
    // The scheme caches nothing, but other code may have cached the member's principals.
    auth.revoked(Subject::User(member_id)).await;
    Ok(n)
}

/// The [`CredentialStore`] of [`ApiKey`] (named `api_keys`): registered with
/// `AuthBuilder::credentials`, so `lifecycle::change_password` and `delete_user` revoke a
/// member's keys along with the built-in credentials.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiKeyCredentials;

impl CredentialStore for ApiKeyCredentials {
    fn name(&self) -> &'static str {
        "api_keys"
    }

    fn revoke_user<'a>(&'a self, auth: &'a Auth, user_id: i64) -> BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(async move { revoke_member_keys(auth, user_id).await.map(drop) })
    }

    // Keys do not expire: the default `delete_expired` (nothing to delete) applies.
}
