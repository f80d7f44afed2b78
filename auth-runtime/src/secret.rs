//! The application secret key (`AUTH_SECRET_KEY`): given, or generated once and kept in the
//! database so that tokens survive a restart.

use crate::db::Bounded;
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::AuthError;

/// The minimum length of a secret key, in bytes.
pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// A secret key of at least 32 bytes. Its raw bytes sign HS256 JWTs (as Simple JWT uses
/// Django's `SECRET_KEY`); every other use derives its own key with [`SecretKey::derive`].
/// `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Why a secret key was refused.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    /// Shorter than [`MIN_SECRET_KEY_BYTES`].
    #[error("the secret key must be at least {MIN_SECRET_KEY_BYTES} bytes long")]
    TooShort,
    /// The database failed.
    #[error("could not read or store the secret key: {0}")]
    Store(#[from] DbErr),
    /// Another key setting is wrong (e.g. a JWT PEM key).
    #[error("{0}")]
    Config(String),
}

impl SecretKey {
    /// Wraps `bytes`.
    ///
    /// # Errors
    /// [`SecretKeyError::TooShort`] below 32 bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretKeyError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_KEY_BYTES {
            return Err(SecretKeyError::TooShort);
        }
        Ok(SecretKey(bytes))
    }

    /// 64 fresh random bytes from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 64];
        rand::rng().fill_bytes(&mut bytes);
        SecretKey(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A 32-byte key for one `purpose` (e.g. `"csrf"`), independent of the others:
    /// SHA-256 over a domain separator, the purpose and the key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"auth-runtime key derivation\0");
        h.update(purpose.as_bytes());
        h.update([0]);
        h.update(&self.0);
        h.finalize().into()
    }

    /// The key from `given` (e.g. `AUTH_SECRET_KEY`) when set; else the one kept in the
    /// database's `auth_settings` table, generated and stored on first start.
    ///
    /// # Errors
    /// A given key below 32 bytes, or a database failure.
    pub async fn load_or_create(db: &DatabaseConnection, given: Option<&str>) -> Result<Self, SecretKeyError> {
        if let Some(given) = given.filter(|g| !g.is_empty()) {
            return SecretKey::new(given.as_bytes());
        }
        if let Some(row) = settings::Entity::find_by_id(KEY_NAME).one(db).bounded().await?
            && let Ok(bytes) = hex::decode(row.value)
        {
            return SecretKey::new(bytes);
        }
        let key = SecretKey::generate();
        let row = settings::ActiveModel { key: Set(KEY_NAME.to_owned()), value: Set(hex::encode(&key.0)) };
        // Two processes starting at once: the second insert fails and both read the winner.
        let _ = settings::Entity::insert(row).exec(db).bounded().await;
        let row = settings::Entity::find_by_id(KEY_NAME).one(db).bounded().await?;
        match row.and_then(|r| hex::decode(r.value).ok()) {
            Some(bytes) => SecretKey::new(bytes),
            None => Err(SecretKeyError::Store(DbErr::RecordNotFound("auth_settings.secret_key".into()))),
        }
    }
}

const KEY_NAME: &str = "secret_key";

/// The `auth_settings` key/value table.
pub mod settings {
    use sea_orm::entity::prelude::*;

    /// A row of `auth_settings`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_settings")]
    pub struct Model {
        /// Setting name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// Setting value.
        pub value: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl From<SecretKeyError> for AuthError {
    fn from(e: SecretKeyError) -> Self {
        AuthError::store(e)
    }
}
