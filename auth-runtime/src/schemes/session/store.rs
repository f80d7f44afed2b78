//! Server-side session storage for the Session scheme: the `auth_sessions` table (the
//! default) or Redis for apps that run several instances (every Redis command bounded by a
//! 1 s timeout, behind a circuit breaker, so a Redis outage is a 503 within a second and
//! recovery needs no restart).
//!
//! A session exists only for a logged-in user: it is created at login and deleted at logout,
//! so anonymous visitors cost no row (Django with `CSRF_USE_SESSIONS = False`: the CSRF
//! secret lives in the `csrftoken` cookie). The cookie holds only the session key (32 random
//! bytes); the store keeps the [`SessionRecord`] under the SHA-256 of the key, so a leaked
//! table or Redis dump holds no usable session key. Expired rows are deleted by
//! [`crate::lifecycle::flush_expired`] (the CLI) and by [`crate::lifecycle::spawn_flush`]
//! (a background task).
//!
//! [`Sessions`] connects the configured store at start-up and is the middleware that renews
//! the cookie's `Max-Age` when the Session scheme has pushed the idle expiry back.

use std::sync::OnceLock;

use crate::db::Bounded;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sha2::{Digest, Sha256};

use super::config::{SessionConfig, SessionStoreKind};
use crate::breaker::Breaker;
use crate::error::AuthError;
use crate::state::Auth;

/// The sea-orm entity of `auth_sessions`.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A server-side session.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_sessions")]
    pub struct Model {
        /// Hex SHA-256 of the session key (the key itself is only in the cookie).
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_digest: String,
        /// The [`super::SessionRecord`] as JSON.
        pub state: String,
        /// The logged-in user (to end a user's sessions).
        pub user_id: Option<i64>,
        /// When the session expires unless used again (UTC).
        pub expires_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What a logged-in session holds. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    /// The user's id.
    #[serde(rename = "uid")]
    pub user_id: i64,
    /// Django's session verification hash of the user's password hash at login: a password
    /// change makes it differ, which ends the session.
    #[serde(rename = "h")]
    pub user_hash: String,
    /// When the user logged in (for the absolute lifetime and per-user revocation).
    pub login_at: i64,
    /// When the idle expiry was last pushed back.
    pub refreshed_at: i64,
    /// When the session ends unless used again.
    pub expires_at: i64,
}

/// The hex SHA-256 of a session key: the store's name for it.
pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new session key: 32 bytes from the OS CSPRNG, base64url (43 characters).
pub fn new_key() -> String {
    use base64::Engine;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Whether `key` has the shape of a key made by [`new_key`] (anything else is not looked up).
pub fn is_key(key: &str) -> bool {
    key.len() == 43 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn utc_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The Redis session store: the [`SessionRecord`] as JSON under
/// `auth-session:<SHA-256 of the key>`, expiring with the session (`SET ... EX`). Every
/// command is bounded by a timeout (1 s) and guarded by a circuit breaker, so an outage answers
/// 503 at once instead of hanging requests.
pub struct RedisSessions {
    conn: redis::aio::ConnectionManager,
    breaker: Breaker,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions").finish_non_exhaustive()
    }
}

impl RedisSessions {
    /// Connects to `url` (within 2 s).
    ///
    /// # Errors
    /// A message when Redis cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        let config = crate::breaker::redis_config();
        let conn = tokio::time::timeout(
            crate::breaker::DEFAULT_TIMEOUT * 2,
            redis::aio::ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| "Redis did not answer within 2 s".to_owned())?
        .map_err(|e| format!("cannot connect to Redis: {e}"))?;
        Ok(RedisSessions { conn, breaker: Breaker::default() })
    }

    fn name(digest: &str) -> String {
        format!("auth-session:{digest}")
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, AuthError> {
        let mut conn = self.conn.clone();
        self.breaker.call(cmd.query_async::<T>(&mut conn)).await.map_err(|e| {
            tracing::error!(error = %e, "Redis session store failed; answering 503");
            AuthError::ServiceUnavailable
        })
    }

    /// Writes `record`; `only_if_exists` keeps a session that expired from coming back.
    async fn write(
        &self,
        digest: &str,
        record: &SessionRecord,
        ttl: u64,
        only_if_exists: bool,
    ) -> Result<(), AuthError> {
        let json = serde_json::to_string(record).map_err(|_| AuthError::ServiceUnavailable)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(Self::name(digest)).arg(json).arg(if only_if_exists { "XX" } else { "NX" });
        cmd.arg("EX").arg(ttl.max(1));
        let _: Option<String> = self.run(&cmd).await?;
        Ok(())
    }
}

/// Where sessions are kept: the database (default) or Redis, as [`SessionConfig::store`]
/// selects. Cheap to clone.
#[derive(Clone, Debug)]
pub enum SessionStore {
    /// `auth_sessions` through sea-orm.
    Database(DatabaseConnection),
    /// Redis, with keys hashed before they reach it and bounded command times.
    Redis(Arc<RedisSessions>),
}

impl SessionStore {
    /// Builds the store that `auth`'s [`SessionConfig`] selects (connecting to Redis).
    ///
    /// # Errors
    /// A message when Redis cannot be reached or its URL is missing.
    pub async fn from_auth(auth: &Auth) -> Result<Self, String> {
        let config = auth.config::<SessionConfig>().cloned().unwrap_or_default();
        match config.store {
            SessionStoreKind::Database => Ok(SessionStore::Database(auth.db().clone())),
            SessionStoreKind::Redis => {
                let url = config.redis_url.ok_or("the Redis session store needs session.redis_url")?;
                Ok(SessionStore::Redis(Arc::new(RedisSessions::connect(&url).await?)))
            }
        }
    }

    /// The unexpired record stored under `digest`, if any.
    ///
    /// # Errors
    /// 503 when the store fails.
    pub async fn load(&self, digest: &str) -> Result<Option<SessionRecord>, AuthError> {
        let raw = match self {
            SessionStore::Database(db) => {
                entity::Entity::find_by_id(digest).one(db).bounded().await?.map(|row| row.state)
            }
            SessionStore::Redis(r) => {
                r.run::<Option<String>>(redis::cmd("GET").arg(RedisSessions::name(digest))).await?
            }
        };
        let now = Utc::now().timestamp_millis();
        Ok(raw.and_then(|json| serde_json::from_str::<SessionRecord>(&json).ok()).filter(|r| r.expires_at > now))
    }

    /// Stores a new session `record` under `digest`, living `ttl` seconds unless refreshed.
    ///
    /// # Errors
    /// 503 when the store fails.
    pub async fn create(&self, digest: &str, record: &SessionRecord, ttl: u64) -> Result<(), AuthError> {
        match self {
            SessionStore::Database(db) => {
                let state = serde_json::to_string(record).map_err(|_| AuthError::ServiceUnavailable)?;
                entity::Entity::insert(entity::ActiveModel {
                    key_digest: Set(digest.to_owned()),
                    state: Set(state),
                    user_id: Set(Some(record.user_id)),
                    expires_at: Set(utc_ms(record.expires_at)),
                })
                .exec(db)
                .bounded()
                .await?;
                Ok(())
            }
            SessionStore::Redis(r) => r.write(digest, record, ttl, false).await,
        }
    }

    /// Replaces the record of an existing session (a pushed-back idle expiry), `ttl` seconds
    /// from now; a session deleted meanwhile is not brought back.
    ///
    /// # Errors
    /// 503 when the store fails.
    pub async fn refresh(&self, digest: &str, record: &SessionRecord, ttl: u64) -> Result<(), AuthError> {
        match self {
            SessionStore::Database(db) => {
                let state = serde_json::to_string(record).map_err(|_| AuthError::ServiceUnavailable)?;
                entity::Entity::update_many()
                    .col_expr(entity::Column::State, Expr::value(state))
                    .col_expr(entity::Column::ExpiresAt, Expr::value(utc_ms(record.expires_at)))
                    .filter(entity::Column::KeyDigest.eq(digest))
                    .exec(db)
                    .bounded()
                    .await?;
                Ok(())
            }
            SessionStore::Redis(r) => r.write(digest, record, ttl, true).await,
        }
    }

    /// Deletes the session stored under `digest` (logout).
    ///
    /// # Errors
    /// 503 when the store fails.
    pub async fn delete(&self, digest: &str) -> Result<(), AuthError> {
        match self {
            SessionStore::Database(db) => {
                entity::Entity::delete_by_id(digest).exec(db).bounded().await?;
            }
            SessionStore::Redis(r) => {
                let _: i64 = r.run(redis::cmd("DEL").arg(RedisSessions::name(digest))).await?;
            }
        }
        Ok(())
    }
}

/// Deletes the database sessions of a user; returns how many. (Sessions in Redis end through
/// the per-user revocation time that the Session scheme checks on every request.)
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_user(db: &DatabaseConnection, user_id: i64) -> Result<u64, AuthError> {
    Ok(entity::Entity::delete_many().filter(entity::Column::UserId.eq(user_id)).exec(db).bounded().await?.rows_affected)
}

/// Deletes expired database sessions; returns how many (Redis expires its own).
///
/// # Errors
/// 503 on a store failure.
pub async fn delete_expired(db: &DatabaseConnection) -> Result<u64, AuthError> {
    Ok(entity::Entity::delete_many()
        .filter(entity::Column::ExpiresAt.lte(Utc::now()))
        .exec(db)
        .bounded()
        .await?
        .rows_affected)
}

/// A session cookie to set on the response: put in the request's extensions by the Session
/// scheme when it pushed the idle expiry back, added to the response by [`Sessions`].
#[derive(Debug, Clone)]
pub(crate) struct RenewedCookie(pub(crate) Cookie<'static>);

/// Sessions for an app: connects the store that the [`SessionConfig`] of the [`Auth`] selects
/// and hands it to the Session scheme; as middleware, it renews the `sessionid` cookie's
/// `Max-Age` on the responses where the scheme pushed the session's idle expiry back (rarely:
/// see [`SessionConfig::expiry_refresh_percent`]).
///
/// ```ignore
/// let sessions = Sessions::new(&auth).await?;
/// HttpServer::new(move || App::new().app_data(auth.clone()).wrap(sessions.clone()) /* ... */);
/// ```
#[derive(Clone, Debug)]
pub struct Sessions {
    store: SessionStore,
}

impl Sessions {
    /// Connects the session store of `auth` (Redis when configured) and registers it with
    /// `auth`.
    ///
    /// # Errors
    /// A message when the store cannot be set up.
    pub async fn new(auth: &Auth) -> Result<Self, String> {
        let store = SessionStore::from_auth(auth).await?;
        set_session_store(auth, store.clone());
        Ok(Sessions { store })
    }

    /// The connected store.
    pub fn store(&self) -> &SessionStore {
        &self.store
    }
}

impl<S, B> Transform<S, ServiceRequest> for Sessions
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RenewCookies<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(RenewCookies { inner: Rc::new(service) }))
    }
}

/// The service of [`Sessions`]: adds the renewed session cookie when there is one.
pub struct RenewCookies<S> {
    inner: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for RenewCookies<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, actix_web::Error>>>>;

    forward_ready!(inner);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            let renewed = res.request().extensions_mut().remove::<RenewedCookie>();
            if let Some(RenewedCookie(cookie)) = renewed
                && !res.response().cookies().any(|c| c.name() == cookie.name())
            {
                res.response_mut().add_cookie(&cookie)?;
            }
            Ok(res)
        })
    }
}

/// The connected session store, registered in [`Auth`] by [`Sessions::new`] (the builder
/// registers it empty).
#[derive(Default)]
pub(crate) struct SessionStoreSlot(OnceLock<SessionStore>);

/// Registers the connected session store ([`Sessions::new`] does it); the first
/// registration wins.
fn set_session_store(auth: &Auth, store: SessionStore) {
    if let Some(slot) = auth.config::<SessionStoreSlot>() {
        let _ = slot.0.set(store);
    }
}

/// The session store of `auth`: the one [`Sessions::new`] connected, else the database when
/// the settings keep sessions there.
///
/// # Errors
/// 503 when the settings name Redis but no [`Sessions`] was built.
pub fn session_store(auth: &Auth) -> Result<&SessionStore, AuthError> {
    let slot = auth.config::<SessionStoreSlot>().ok_or(AuthError::ImproperlyConfigured("no session store slot"))?;
    if let Some(store) = slot.0.get() {
        return Ok(store);
    }
    match auth.config::<SessionConfig>().map(|c| c.store).unwrap_or_default() {
        SessionStoreKind::Database => Ok(slot.0.get_or_init(|| SessionStore::Database(auth.db().clone()))),
        SessionStoreKind::Redis => {
            tracing::error!("the Redis session store is not connected: build Sessions::new(&auth) at start-up");
            Err(AuthError::ServiceUnavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_digests() {
        let key = new_key();
        assert!(is_key(&key), "{key}");
        assert_ne!(key, new_key());
        assert!(!is_key("short"));
        assert!(!is_key(&format!("{}=", "a".repeat(42))));
        assert_eq!(digest(&key).len(), 64);
    }

    #[test]
    fn record_wire_form_names_no_secret() {
        let r = SessionRecord { user_id: 7, user_hash: "ab".into(), login_at: 1, refreshed_at: 2, expires_at: 3 };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"uid":7,"h":"ab","login_at":1,"refreshed_at":2,"expires_at":3}"#);
        assert_eq!(serde_json::from_str::<SessionRecord>(&json).unwrap(), r);
    }
}
