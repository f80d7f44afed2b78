//! Users: the default `users` table (Django's `auth_user` columns) and the [`UserStore`]
//! trait through which an app can plug in its own user table.

use crate::db::Bounded;
use futures_util::future::BoxFuture;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Func;
use sea_orm::{ActiveValue::Set, ConnectionTrait, FromQueryResult, QueryOrder};
use std::sync::Arc;

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
            fields: crate::principal::AppFields::default(),
        }
    }
}

/// A user with its password hash, as a [`UserStore`] returns it.
#[derive(Debug, Clone)]
pub struct StoredUser {
    /// The user (with the app's own fields, if the store sets them: [`User::fields`]).
    pub user: User,
    /// The stored password hash: an argon2id PHC string, or a format a hasher of
    /// [`crate::passwords`] verifies (and the next good login upgrades).
    pub password_hash: String,
}

/// A user to insert, as [`UserStore::create`] receives it: the password is hashed already.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Login name (normalised, validated).
    pub username: String,
    /// E-mail address, possibly empty (the login name when the store logs in by e-mail).
    pub email: String,
    /// The password's hash.
    pub password_hash: String,
    /// Staff flag (Django's `is_staff`).
    pub is_staff: bool,
    /// Active flag.
    pub is_active: bool,
}

/// Which field a login name is looked up by (Django's `USERNAME_FIELD`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginField {
    /// `users.username`, exactly (after NFKC normalisation).
    #[default]
    Username,
    /// `users.email`, ignoring ASCII case; a new user's e-mail must then be unique.
    Email,
}

/// Where users live: every built-in path (the schemes' password checks and user reads, the
/// login endpoints, the lifecycle functions of [`crate::lifecycle`], [`crate::lifecycle::create_user`],
/// [`crate::lifecycle::list_users`]) goes through it. The default, [`DbUserStore`], is the `users` table; an
/// app with its own table implements this trait and passes it to
/// [`crate::AuthBuilder::users`].
///
/// Every method returns a sea-orm `DbErr` on store failure, which the framework answers 503.
/// Implementations should bound their calls in time (see [`crate::db::Bounded`]).
pub trait UserStore: Send + Sync + 'static {
    /// The user whose login name (username, or e-mail: the store decides) is `login`, if
    /// any.
    fn by_login<'a>(&'a self, login: &'a str) -> BoxFuture<'a, Result<Option<StoredUser>, DbErr>>;
    /// The user with this id, if any.
    fn by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<StoredUser>, DbErr>>;
    /// Replaces the stored hash (a password change, or re-hashing after a login).
    fn set_password_hash<'a>(&'a self, id: i64, hash: &'a str) -> BoxFuture<'a, Result<(), DbErr>>;
    /// Records a successful login now (Django's `last_login`); the default does nothing.
    fn record_login(&self, id: i64) -> BoxFuture<'_, Result<(), DbErr>> {
        let _ = id;
        Box::pin(async { Ok(()) })
    }
    /// Inserts a user; `Ok(None)` when its login name is taken.
    fn create(&self, record: UserRecord) -> BoxFuture<'_, Result<Option<User>, DbErr>>;
    /// Sets the user's active flag (Django's `is_active`).
    fn set_active(&self, id: i64, active: bool) -> BoxFuture<'_, Result<(), DbErr>>;
    /// Deletes the user's row (the framework has revoked its credentials first).
    fn delete(&self, id: i64) -> BoxFuture<'_, Result<(), DbErr>>;
    /// Every user, in a stable order (the admin list).
    fn list(&self) -> BoxFuture<'_, Result<Vec<User>, DbErr>>;
}

/// The default [`UserStore`]: the `users` table through sea-orm, logging in by username
/// unless [`DbUserStore::login_by`] says e-mail.
#[derive(Debug, Clone)]
pub struct DbUserStore {
    db: DatabaseConnection,
    login: LoginField,
    /// Set once the unique index on `lower(email)` exists (e-mail login only).
    email_index: Arc<tokio::sync::OnceCell<()>>,
}

/// The index that makes e-mail login names unique whatever their case, so two concurrent
/// creations of one address cannot both succeed (the database decides, not a check before
/// the insert). Empty addresses are left out. Created by the first creation of a store that
/// logs in by e-mail; it fails (503) while the table holds two users with one address.
const UNIQUE_EMAIL_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email)) WHERE email <> ''";

impl DbUserStore {
    /// A store on `db`, logging in by username.
    pub fn new(db: DatabaseConnection) -> Self {
        DbUserStore { db, login: LoginField::Username, email_index: Arc::default() }
    }

    /// The same store, looking login names up by `field`.
    pub fn login_by(mut self, field: LoginField) -> Self {
        self.login = field;
        self
    }
}

fn stored(m: entity::Model) -> StoredUser {
    let password_hash = m.password_hash.clone();
    StoredUser { user: m.into(), password_hash }
}

impl UserStore for DbUserStore {
    fn by_login<'a>(&'a self, login: &'a str) -> BoxFuture<'a, Result<Option<StoredUser>, DbErr>> {
        Box::pin(async move {
            // No valid login name holds a NUL (PostgreSQL would refuse the query itself).
            if login.contains('\0') {
                return Ok(None);
            }
            let login = normalize_username(login);
            let filter = match self.login {
                LoginField::Username => entity::Column::Username.eq(login),
                LoginField::Email => sea_orm::sea_query::ExprTrait::eq(
                    Func::lower(Expr::col(entity::Column::Email)),
                    login.to_ascii_lowercase(),
                ),
            };
            Ok(entity::Entity::find().filter(filter).one(&self.db).bounded().await?.map(stored))
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

    fn create(&self, record: UserRecord) -> BoxFuture<'_, Result<Option<User>, DbErr>> {
        Box::pin(async move {
            if self.login == LoginField::Email {
                self.email_index
                    .get_or_try_init(|| async {
                        self.db.execute_unprepared(UNIQUE_EMAIL_INDEX).bounded().await.map(drop)
                    })
                    .await?;
            }
            let model = entity::ActiveModel {
                username: Set(record.username),
                email: Set(record.email),
                password_hash: Set(record.password_hash),
                is_active: Set(record.is_active),
                is_staff: Set(record.is_staff),
                is_superuser: Set(false),
                date_joined: Set(chrono::Utc::now()),
                last_login: Set(None),
                ..Default::default()
            };
            match model.insert(&self.db).bounded().await {
                Ok(m) => Ok(Some(m.into())),
                Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn set_active(&self, id: i64, active: bool) -> BoxFuture<'_, Result<(), DbErr>> {
        Box::pin(async move {
            entity::Entity::update_many()
                .col_expr(entity::Column::IsActive, Expr::value(active))
                .filter(entity::Column::Id.eq(id))
                .exec(&self.db)
                .bounded()
                .await?;
            Ok(())
        })
    }

    fn delete(&self, id: i64) -> BoxFuture<'_, Result<(), DbErr>> {
        Box::pin(async move {
            entity::Entity::delete_by_id(id).exec(&self.db).bounded().await?;
            Ok(())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<User>, DbErr>> {
        Box::pin(async move {
            Ok(entity::Entity::find()
                .order_by_asc(entity::Column::Username)
                .all(&self.db)
                .bounded()
                .await?
                .into_iter()
                .map(User::from)
                .collect())
        })
    }
}

/// A user row with its per-user revocation times (`auth_revocations`, 0 when none).
#[derive(Debug, Clone, FromQueryResult)]
pub struct UserRow {
    /// `users.id`.
    pub id: i64,
    /// `users.username`.
    pub username: String,
    /// `users.email`.
    pub email: String,
    /// `users.is_active`.
    pub is_active: bool,
    /// `users.is_staff`.
    pub is_staff: bool,
    /// `users.is_superuser`.
    pub is_superuser: bool,
    /// `users.password_hash` (for the session's password-change check; never sent anywhere).
    pub password_hash: String,
    /// JWTs issued before this time (seconds since the epoch) are revoked.
    pub not_before: i64,
    /// Sessions logged in before this time (milliseconds since the epoch) are ended.
    pub sessions_not_before: i64,
}

impl UserRow {
    /// The user as the framework sees it.
    pub fn user(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
            email: self.email.clone(),
            is_staff: self.is_staff,
            is_active: self.is_active,
            is_superuser: self.is_superuser,
            fields: crate::principal::AppFields::default(),
        }
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

/// A user to create with [`crate::lifecycle::create_user`]. The default is an active, non-staff user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name; see [`is_valid_username`].
    pub username: String,
    /// E-mail address, possibly empty (required, and unique, when the store logs in by
    /// e-mail).
    pub email: String,
    /// The password in clear; hashed before it is stored.
    pub password: String,
    /// Staff flag.
    pub is_staff: bool,
    /// Active flag: `true` unless said otherwise.
    pub is_active: bool,
}

impl Default for NewUser {
    fn default() -> Self {
        NewUser {
            username: String::new(),
            email: String::new(),
            password: String::new(),
            is_staff: false,
            is_active: true,
        }
    }
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
