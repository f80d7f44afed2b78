//! Users: the default `users` table (Django's `auth_user` columns) and the [`UserStore`]
//! trait through which an app can plug in its own user table.

use crate::db::Bounded;
use futures_util::future::BoxFuture;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, QueryOrder};

use crate::principal::User;

/// The sea-orm entity of the default `users` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A row of `users`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Unique login name (1 to 150 characters).
        #[sea_orm(unique)]
        pub username: String,
        /// E-mail address, possibly empty.
        pub email: String,
        /// argon2id PHC string; never the password.
        pub password_hash: String,
        /// Inactive users are refused by every scheme.
        pub is_active: bool,
        /// Staff users pass `IsAdminUser`.
        pub is_staff: bool,
        /// Django's `is_superuser`.
        pub is_superuser: bool,
        /// When the account was created (UTC).
        pub date_joined: DateTimeUtc,
        /// Last successful password login (UTC).
        pub last_login: Option<DateTimeUtc>,
    }

    /// No relations are declared here; dependent tables reference `users.id`.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl From<entity::Model> for User {
    fn from(m: entity::Model) -> Self {
        User {
            id: m.id,
            username: m.username,
            email: m.email,
            is_staff: m.is_staff,
            is_active: m.is_active,
            is_superuser: m.is_superuser,
        }
    }
}

/// A user with its password hash, as a [`UserStore`] returns it.
#[derive(Debug, Clone)]
pub struct StoredUser {
    /// The user.
    pub user: User,
    /// The argon2id PHC string.
    pub password_hash: String,
}

/// Where users live. The default, [`DbUserStore`], is the `users` table; an app with its own
/// table implements this trait and passes it to [`crate::AuthBuilder::users`].
///
/// Every method returns a sea-orm `DbErr` on store failure, which the framework answers 503.
pub trait UserStore: Send + Sync + 'static {
    /// The user with this exact username, if any.
    fn by_username<'a>(&'a self, username: &'a str) -> BoxFuture<'a, Result<Option<StoredUser>, DbErr>>;
    /// The user with this id, if any.
    fn by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<StoredUser>, DbErr>>;
    /// Replaces the stored hash (re-hashing after a login with weaker parameters).
    fn set_password_hash<'a>(&'a self, id: i64, hash: &'a str) -> BoxFuture<'a, Result<(), DbErr>>;
    /// Records a successful login now (Django's `last_login`); the default does nothing.
    fn record_login(&self, id: i64) -> BoxFuture<'_, Result<(), DbErr>> {
        let _ = id;
        Box::pin(async { Ok(()) })
    }
}

/// The default [`UserStore`]: the `users` table through sea-orm.
#[derive(Debug, Clone)]
pub struct DbUserStore {
    db: DatabaseConnection,
}

impl DbUserStore {
    /// A store on `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        DbUserStore { db }
    }
}

fn stored(m: entity::Model) -> StoredUser {
    let password_hash = m.password_hash.clone();
    StoredUser { user: m.into(), password_hash }
}

impl UserStore for DbUserStore {
    fn by_username<'a>(&'a self, username: &'a str) -> BoxFuture<'a, Result<Option<StoredUser>, DbErr>> {
        Box::pin(async move {
            // No valid username holds a NUL (PostgreSQL would refuse the query itself).
            if username.contains('\0') {
                return Ok(None);
            }
            let username = normalize_username(username);
            Ok(entity::Entity::find()
                .filter(entity::Column::Username.eq(username))
                .one(&self.db)
                .bounded()
                .await?
                .map(stored))
        })
    }

    fn by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<StoredUser>, DbErr>> {
        Box::pin(async move { Ok(entity::Entity::find_by_id(id).one(&self.db).bounded().await?.map(stored)) })
    }

    fn set_password_hash<'a>(&'a self, id: i64, hash: &'a str) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(async move {
            entity::Entity::update_many()
                .col_expr(entity::Column::PasswordHash, Expr::value(hash))
                .filter(entity::Column::Id.eq(id))
                .exec(&self.db)
                .bounded()
                .await?;
            Ok(())
        })
    }

    fn record_login(&self, id: i64) -> BoxFuture<'_, Result<(), DbErr>> {
        Box::pin(async move {
            entity::Entity::update_many()
                .col_expr(entity::Column::LastLogin, Expr::value(chrono::Utc::now()))
                .filter(entity::Column::Id.eq(id))
                .exec(&self.db)
                .bounded()
                .await?;
            Ok(())
        })
    }
}

/// The form a username is stored and looked up in: Unicode NFKC (Django's
/// `AbstractBaseUser.normalize_username`), so `ａｌｉｃｅ` (fullwidth) is `alice` and cannot be
/// created beside it. Applied at creation and at every login.
pub fn normalize_username(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfkc().collect()
}

/// True for a valid username: 1 to 150 characters of Unicode letters and digits and
/// `@.+-_` (Django's `UnicodeUsernameValidator`).
pub fn is_valid_username(name: &str) -> bool {
    let count = name.chars().count();
    (1..=150).contains(&count) && name.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
}

/// A user to create with [`create_user`].
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Login name; see [`is_valid_username`].
    pub username: String,
    /// E-mail address, possibly empty.
    pub email: String,
    /// The password in clear; hashed before it is stored.
    pub password: String,
    /// Staff flag.
    pub is_staff: bool,
    /// Active flag.
    pub is_active: bool,
}

/// Why [`create_user`] refused.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The username is not 1 to 150 letters, digits and `@.+-_`.
    #[error("invalid username: use 1 to 150 letters, digits and @.+-_")]
    InvalidUsername,
    /// A user with this username exists.
    #[error("a user with that username already exists")]
    Exists,
    /// The store failed.
    #[error(transparent)]
    Auth(#[from] crate::AuthError),
}

/// Creates a user in the default `users` table, hashing the password with `auth`'s hasher.
///
/// # Errors
/// [`CreateUserError`]: invalid username, existing user, store failure.
pub async fn create_user(auth: &crate::Auth, mut new: NewUser) -> Result<User, CreateUserError> {
    new.username = normalize_username(&new.username);
    if !is_valid_username(&new.username) {
        return Err(CreateUserError::InvalidUsername);
    }
    if auth.users().by_username(&new.username).await.map_err(crate::AuthError::from)?.is_some() {
        return Err(CreateUserError::Exists);
    }
    let hash = auth.passwords().hash(&new.password).await?;
    let model = entity::ActiveModel {
        username: Set(new.username),
        email: Set(new.email),
        password_hash: Set(hash),
        is_active: Set(new.is_active),
        is_staff: Set(new.is_staff),
        is_superuser: Set(false),
        date_joined: Set(chrono::Utc::now()),
        last_login: Set(None),
        ..Default::default()
    };
    match model.insert(auth.db()).bounded().await {
        Ok(m) => Ok(m.into()),
        Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
            Err(CreateUserError::Exists)
        }
        Err(e) => Err(crate::AuthError::from(e).into()),
    }
}

/// Every user of the default table, ordered by username.
///
/// # Errors
/// 503 when the store fails.
pub async fn list_users(db: &DatabaseConnection) -> Result<Vec<User>, crate::AuthError> {
    Ok(entity::Entity::find()
        .order_by_asc(entity::Column::Username)
        .all(db)
        .bounded()
        .await?
        .into_iter()
        .map(User::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::is_valid_username;

    #[test]
    fn usernames_are_nfkc_normalised() {
        use super::normalize_username;
        assert_eq!(normalize_username("\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}"), "alice");
        assert_eq!(normalize_username("j\u{6f}\u{308}rg"), "j\u{f6}rg", "composed");
        assert_eq!(normalize_username("alice"), "alice");
    }

    #[test]
    fn usernames() {
        assert!(is_valid_username("alice"));
        assert!(is_valid_username("a.b+c-d_e@f"));
        assert!(is_valid_username("j\u{f6}rg"));
        assert!(is_valid_username(&"x".repeat(150)));
        assert!(!is_valid_username(&"x".repeat(151)));
        assert!(!is_valid_username(""));
        assert!(!is_valid_username("a:b"));
        assert!(!is_valid_username("a b"));
    }
}
