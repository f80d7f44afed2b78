//! The app's own user table, `members`, and [`MemberStore`], the [`UserStore`] that makes the
//! framework log members in by e-mail and carry their role into every [`auth_runtime::Principal`].

use auth_runtime::db::Bounded;
use auth_runtime::principal::AppFields;
use auth_runtime::users::{StoredUser, UserRecord, UserStore};
use auth_runtime::{Auth, AuthError, User};
use futures_util::future::BoxFuture;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::{DatabaseConnection, QueryOrder};

/// The `members` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A member.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "members")]
    pub struct Model {
        /// Primary key (what the framework's tables call `user_id`).
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Login name, stored in lower case, unique.
        #[sea_orm(unique)]
        pub email: String,
        /// Shown to other members.
        pub display_name: String,
        /// `reader`, `editor` or `admin`.
        pub role: String,
        /// The framework's password hash (argon2id PHC string).
        pub password_hash: String,
        /// Inactive members are refused by every scheme.
        pub is_active: bool,
        /// When the member was created (UTC).
        pub created_at: DateTimeUtc,
    }

    /// No relations declared (`api_keys` and `notes` reference `members.id`).
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and writes their own notes.
    Reader,
    /// Same, at a higher rate.
    Editor,
    /// Staff: passes `IsAdminUser`.
    Admin,
}

impl Role {
    /// The stored name: `reader`, `editor` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reader" => Ok(Role::Reader),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}: use reader, editor or admin")),
        }
    }
}

/// The app's own fields of a member, carried by every principal: read them with
/// `principal.user.fields::<Member>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Shown to other members.
    pub display_name: String,
    /// The member's role.
    pub role: Role,
}

/// The framework's view of a member row: the e-mail is the username, admins are staff.
fn stored(m: entity::Model) -> StoredUser {
    // An unknown role in the table (edited by hand) is the least privileged one.
    let role = m.role.parse().unwrap_or(Role::Reader);
    let user = User {
        id: m.id,
        username: m.email.clone(),
        email: m.email,
        is_staff: role == Role::Admin,
        is_active: m.is_active,
        is_superuser: false,
        fields: AppFields::new(Member { display_name: m.display_name, role }),
    };
    StoredUser { user, password_hash: m.password_hash }
}

/// The form an e-mail is stored and looked up in: trimmed, lower case.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// [`UserStore`] over `members`: logs in by e-mail, whatever its case.
#[derive(Debug, Clone)]
pub struct MemberStore {
    db: DatabaseConnection,
}

impl MemberStore {
    /// A store on `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        MemberStore { db }
    }

    async fn insert(&self, model: entity::ActiveModel) -> Result<Option<User>, DbErr> {
        match model.insert(&self.db).bounded().await {
            Ok(m) => Ok(Some(stored(m).user)),
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn update(&self, id: i64, column: entity::Column, value: impl Into<sea_orm::Value>) -> Result<(), DbErr> {
        entity::Entity::update_many()
            .col_expr(column, Expr::value(value.into()))
            .filter(entity::Column::Id.eq(id))
            .exec(&self.db)
            .bounded()
            .await?;
        Ok(())
    }
}

impl UserStore for MemberStore {
    fn by_login<'a>(&'a self, login: &'a str) -> BoxFuture<'a, Result<Option<StoredUser>, DbErr>> {
        Box::pin(async move {
            if login.contains('\0') {
                return Ok(None);
            }
            let email = normalize_email(login);
            Ok(entity::Entity::find()
                .filter(entity::Column::Email.eq(email))
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
        Box::pin(self.update(id, entity::Column::PasswordHash, hash))
    }

    /// Called by the framework's `create_user`; [`create_member`] is the way to set a role
    /// and display name (a `UserRecord` has no room for them): here staff is `admin`, the
    /// rest `reader`, and the display name is the e-mail's local part.
    fn create(&self, record: UserRecord) -> BoxFuture<'_, Result<Option<User>, DbErr>> {
        Box::pin(async move {
            let email = normalize_email(if record.email.is_empty() { &record.username } else { &record.email });
            let display_name = email.split('@').next().unwrap_or_default().to_owned();
            let role = if record.is_staff { Role::Admin } else { Role::Reader };
            self.insert(active_model(email, display_name, role, record.password_hash, record.is_active)).await
        })
    }

    fn set_active(&self, id: i64, active: bool) -> BoxFuture<'_, Result<(), DbErr>> {
        Box::pin(self.update(id, entity::Column::IsActive, active))
    }

    fn delete(&self, id: i64) -> BoxFuture<'_, Result<(), DbErr>> {
        Box::pin(async move {
            // The member's notes go with it (api_keys were revoked by their CredentialStore).
            crate::notes::entity::Entity::delete_many()
                .filter(crate::notes::entity::Column::OwnerId.eq(id))
                .exec(&self.db)
                .bounded()
                .await?;
            entity::Entity::delete_by_id(id).exec(&self.db).bounded().await?;
            Ok(())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<User>, DbErr>> {
        Box::pin(async move {
            let rows = entity::Entity::find().order_by_asc(entity::Column::Email).all(&self.db).bounded().await?;
            Ok(rows.into_iter().map(|m| stored(m).user).collect())
        })
    }
}

fn active_model(
    email: String,
    display_name: String,
    role: Role,
    password_hash: String,
    is_active: bool,
) -> entity::ActiveModel {
    entity::ActiveModel {
        email: Set(email),
        display_name: Set(display_name),
        role: Set(role.as_str().to_owned()),
        password_hash: Set(password_hash),
        is_active: Set(is_active),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
}

/// Why [`create_member`] refused.
#[derive(Debug, thiserror::Error)]
pub enum CreateMemberError {
    /// Not an e-mail address (no `@`, or over 254 characters).
    #[error("invalid e-mail address")]
    InvalidEmail,
    /// A member with this e-mail exists (whatever its case).
    #[error("a member with that e-mail already exists")]
    Exists,
    /// Hashing or the database failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Creates a member with a role and display name, hashing the password with the
/// framework's hasher (so the framework's login paths verify it).
///
/// # Errors
/// [`CreateMemberError`].
pub async fn create_member(
    auth: &Auth,
    email: &str,
    display_name: &str,
    role: Role,
    password: &str,
) -> Result<User, CreateMemberError> {
    let email = normalize_email(email);
    if !email.contains('@') || email.chars().count() > 254 || email.contains('\0') {
        return Err(CreateMemberError::InvalidEmail);
    }
    let hash = auth.passwords().hash(password).await?;
    let store = MemberStore::new(auth.db().clone());
    let model = active_model(email, display_name.to_owned(), role, hash, true);
    store.insert(model).await.map_err(AuthError::from)?.ok_or(CreateMemberError::Exists)
}
