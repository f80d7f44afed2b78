//! The hot-path reads: one statement per authenticated request (a credential joined to its
//! user and the user's revocation times), as a hand-written server would do it. The
//! statements are constant strings, so each pooled connection prepares them once and reuses
//! them.
//!
//! They join the default `users` table; an app with its own [`crate::users::UserStore`]
//! (see [`crate::Auth::default_users`]) takes the schemes' two-step path instead.

use crate::db::Bounded;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement, Value};

use std::sync::{Arc, LazyLock};

use crate::cache::GenCache;
use crate::error::AuthError;
use crate::principal::User;
use crate::state::Auth;
pub use crate::users::UserRow;

/// An API token joined to its user.
#[derive(Debug, Clone, FromQueryResult)]
pub struct TokenRow {
    /// `auth_tokens.id`.
    pub token_id: i64,
    /// The key's stored prefix.
    pub prefix: String,
    /// Expiry; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last recorded use.
    pub last_used_at: Option<DateTime<Utc>>,
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
}

impl TokenRow {
    /// The token's user.
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

const USER_COLUMNS: &str = "u.id, u.username, u.email, u.is_active, u.is_staff, u.is_superuser, u.password_hash, \
     COALESCE(r.not_before, 0) AS not_before, COALESCE(r.sessions_not_before, 0) AS sessions_not_before \
     FROM users u LEFT JOIN auth_revocations r ON r.user_id = u.id";

const TOKEN_SELECT: &str = "SELECT t.id AS token_id, t.prefix, t.expires_at, t.last_used_at, \
     u.id, u.username, u.email, u.is_active, u.is_staff, u.is_superuser \
     FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = $1";

/// One statement's text for each backend: PostgreSQL's `$1` placeholders, and SQLite's `?1`,
/// written once rather than per query.
struct Sql {
    postgres: String,
    sqlite: String,
}

impl Sql {
    fn new(postgres: String) -> Sql {
        Sql { sqlite: postgres.replace('$', "?"), postgres }
    }

    fn for_backend(&self, backend: DbBackend) -> &str {
        if backend == DbBackend::Postgres { &self.postgres } else { &self.sqlite }
    }
}

static USER_BY_ID_SQL: LazyLock<Sql> = LazyLock::new(|| Sql::new(format!("SELECT {USER_COLUMNS} WHERE u.id = $1")));
static SESSION_SQL: LazyLock<Sql> = LazyLock::new(|| {
    Sql::new(format!("SELECT s.state, {USER_COLUMNS} JOIN auth_sessions s ON s.user_id = u.id WHERE s.key_digest = $1"))
});
static TOKEN_SQL: LazyLock<Sql> = LazyLock::new(|| Sql::new(TOKEN_SELECT.to_owned()));

/// A database session joined to its user and the user's revocation times.
#[derive(Debug, Clone, FromQueryResult)]
pub struct SessionRow {
    /// `auth_sessions.state`: the [`crate::schemes::session::store::SessionRecord`] as JSON.
    pub state: String,
    /// The session's user, read from the same row.
    #[sea_orm(nested)]
    pub user: UserRow,
}

/// The database session stored under `digest` joined to its user, in one statement.
///
/// # Errors
/// The driver's error (answered 503).
pub async fn session_by_digest(db: &DatabaseConnection, digest: &str) -> Result<Option<SessionRow>, DbErr> {
    SessionRow::find_by_statement(statement(db, &SESSION_SQL, digest.into())).one(db).bounded().await
}

/// A statement of `sql` for the connection's backend, with its one parameter.
fn statement(db: &DatabaseConnection, sql: &Sql, value: Value) -> Statement {
    let backend = db.get_database_backend();
    Statement::from_sql_and_values(backend, sql.for_backend(backend), [value])
}

/// The user with this id and its revocation times, in one statement.
///
/// # Errors
/// The driver's error (answered 503).
pub async fn user_by_id(db: &DatabaseConnection, id: i64) -> Result<Option<UserRow>, DbErr> {
    UserRow::find_by_statement(statement(db, &USER_BY_ID_SQL, id.into())).one(db).bounded().await
}

/// The API token with this digest joined to its user, in one statement.
///
/// # Errors
/// The driver's error (answered 503).
pub async fn token_by_digest(db: &DatabaseConnection, digest: &str) -> Result<Option<TokenRow>, DbErr> {
    TokenRow::find_by_statement(statement(db, &TOKEN_SQL, digest.into())).one(db).bounded().await
}

/// [`user_by_id`] through the principal cache's user rows: no statement when the row was read
/// within the cache TTL and the user has not been revoked since.
///
/// # Errors
/// 503 on a store failure.
pub async fn cached_user(auth: &Auth, id: i64) -> Result<Option<Arc<UserRow>>, AuthError> {
    let cache = auth.cache().users();
    let key = GenCache::<Arc<UserRow>>::key("user", &id.to_le_bytes());
    if let Some(row) = cache.get(&key) {
        return Ok(Some(row));
    }
    let snapshot = cache.snapshot();
    let Some(row) = user_by_id(auth.db(), id).await? else {
        return Ok(None);
    };
    let row = Arc::new(row);
    cache.insert(key, snapshot, row.clone(), Some(id), None, None);
    Ok(Some(row))
}
