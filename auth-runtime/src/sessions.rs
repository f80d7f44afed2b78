//! Server-side session storage for the Session scheme, plugged into actix-session:
//! a sea-orm store (the default; table `auth_sessions`) and a Redis store for apps that run
//! several instances (every Redis command bounded by a 1 s timeout, behind a circuit
//! breaker, so a Redis outage is a 503 within a second and recovery needs no restart). The cookie holds only the session key; the store keeps
//! the state under the SHA-256 of the key, so a leaked table or Redis dump holds no usable
//! session key.
//!
//! [`Sessions`] is the middleware to wrap the app with: actix-session's `SessionMiddleware`
//! configured from [`crate::schemes::SessionConfig`], whose store faults are answered 503
//! `service_unavailable` (fail closed) instead of a bare 500.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_session::SessionMiddleware;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite, time::Duration};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use chrono::Utc;
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sha2::{Digest, Sha256};

use std::sync::Arc;

use crate::breaker::Breaker;
use crate::cache::{CacheConfig, GenCache, Key as CacheKey, Subject};
use crate::error::AuthError;
use crate::schemes::session::{SessionConfig, SessionStoreKind, USER_ID_KEY};
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
        /// The session state, a JSON object of strings.
        pub state: String,
        /// The logged-in user, if any (to end a user's sessions).
        pub user_id: Option<i64>,
        /// When the session expires unless used again (UTC).
        pub expires_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A store failure, recognised by [`Sessions`] to answer 503.
#[derive(Debug, thiserror::Error)]
#[error("the session store is unavailable: {0}")]
pub struct StoreUnavailable(String);

fn unavailable(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(StoreUnavailable(e.to_string()))
}

fn expiry(ttl: &Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(ttl.whole_seconds().clamp(0, 10 * 365 * 86400))
}

fn user_of(state: &HashMap<String, String>) -> Option<i64> {
    state.get(USER_ID_KEY).and_then(|v| serde_json::from_str::<i64>(v).ok())
}

/// The database session store (`auth_sessions`).
#[derive(Debug, Clone)]
pub struct DbSessionStore {
    db: DatabaseConnection,
}

impl DbSessionStore {
    /// A store on `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        DbSessionStore { db }
    }

    async fn write(&self, key: &str, state: HashMap<String, String>, ttl: &Duration) -> Result<(), anyhow::Error> {
        let json = serde_json::to_string(&state)?;
        entity::Entity::insert(entity::ActiveModel {
            key_digest: Set(digest(key)),
            user_id: Set(user_of(&state)),
            state: Set(json),
            expires_at: Set(expiry(ttl)),
        })
        .on_conflict(
            OnConflict::column(entity::Column::KeyDigest)
                .update_columns([entity::Column::State, entity::Column::UserId, entity::Column::ExpiresAt])
                .to_owned(),
        )
        .exec(&self.db)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

impl DbSessionStore {
    /// The unexpired state of `key` and when it expires.
    async fn load_with_expiry(
        &self,
        key: &SessionKey,
    ) -> Result<Option<(HashMap<String, String>, chrono::DateTime<Utc>)>, LoadError> {
        let row = entity::Entity::find_by_id(digest(key.as_ref()))
            .filter(entity::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await
            .map_err(|e| LoadError::Other(unavailable(e)))?;
        match row {
            None => Ok(None),
            Some(row) => serde_json::from_str(&row.state)
                .map(|state| Some((state, row.expires_at)))
                .map_err(|e| LoadError::Deserialization(e.into())),
        }
    }
}

/// A new session key: 32 bytes from the OS CSPRNG, base64url (43 characters).
fn new_key() -> String {
    use base64::Engine;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        Ok(self.load_with_expiry(key).await?.map(|(state, _)| state))
    }

    async fn save(&self, state: HashMap<String, String>, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_key();
        self.write(&key, state, ttl).await.map_err(SaveError::Other)?;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        self.write(key.as_ref(), state, ttl).await.map_err(UpdateError::Other)?;
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        // Written at most about once a minute per session: the expiry only moves when it
        // would move by more than 60 seconds.
        let new = expiry(ttl);
        entity::Entity::update_many()
            .col_expr(entity::Column::ExpiresAt, Expr::value(new))
            .filter(entity::Column::KeyDigest.eq(digest(key.as_ref())))
            .filter(entity::Column::ExpiresAt.lt(new - chrono::Duration::seconds(60)))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        entity::Entity::delete_by_id(digest(key.as_ref())).exec(&self.db).await.map_err(unavailable)?;
        Ok(())
    }
}

/// The Redis session store: the state as JSON under `auth-session:<SHA-256 of the key>`,
/// expiring with the session (`SET ... EX`). Every command is bounded by a timeout (1 s) and
/// guarded by a [`Breaker`], so an outage answers 503 at once instead of hanging requests.
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
    /// Connects to `url` (within 1 s).
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

    fn name(key: &str) -> String {
        format!("auth-session:{}", digest(key))
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, anyhow::Error> {
        let mut conn = self.conn.clone();
        self.breaker.call(cmd.query_async::<T>(&mut conn)).await.map_err(unavailable)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let raw: Option<String> =
            self.run(redis::cmd("GET").arg(Self::name(key.as_ref()))).await.map_err(LoadError::Other)?;
        raw.map(|json| serde_json::from_str(&json).map_err(|e| LoadError::Deserialization(e.into()))).transpose()
    }

    /// Writes `state` under `key`; `only_if_exists` keeps a key that expired from coming back.
    /// Returns whether it was written.
    async fn write(
        &self,
        key: &str,
        state: &HashMap<String, String>,
        ttl: &Duration,
        only_if_exists: bool,
    ) -> Result<bool, anyhow::Error> {
        let json = serde_json::to_string(state)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(Self::name(key)).arg(json).arg(if only_if_exists { "XX" } else { "NX" });
        cmd.arg("EX").arg(ttl.whole_seconds().max(1));
        let written: Option<String> = self.run(&cmd).await?;
        Ok(written.is_some())
    }

    async fn save(&self, state: HashMap<String, String>, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_key();
        self.write(&key, &state, ttl, false).await.map_err(SaveError::Other)?;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        if self.write(key.as_ref(), &state, ttl, true).await.map_err(UpdateError::Other)? {
            return Ok(key);
        }
        // Expired between load and update: a new key, as a new session.
        self.save(state, ttl).await.map_err(|e| match e {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let _: i64 =
            self.run(redis::cmd("EXPIRE").arg(Self::name(key.as_ref())).arg(ttl.whole_seconds().max(1))).await?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let _: i64 = self.run(redis::cmd("DEL").arg(Self::name(key.as_ref()))).await?;
        Ok(())
    }
}

/// Deletes the database sessions of a user; returns how many. (Sessions in Redis end through
/// the per-user revocation time that the Session scheme checks on every request.)
///
/// # Errors
/// 503 on a store failure.
pub async fn delete_user_sessions(db: &DatabaseConnection, user_id: i64) -> Result<u64, AuthError> {
    Ok(entity::Entity::delete_many().filter(entity::Column::UserId.eq(user_id)).exec(db).await?.rows_affected)
}

/// Deletes expired database sessions; returns how many (Redis expires its own).
///
/// # Errors
/// 503 on a store failure.
pub async fn delete_expired(db: &DatabaseConnection) -> Result<u64, AuthError> {
    Ok(entity::Entity::delete_many().filter(entity::Column::ExpiresAt.lte(Utc::now())).exec(db).await?.rows_affected)
}

/// Where [`AuthSessionStore`] keeps sessions.
#[derive(Clone)]
pub enum StoreBackend {
    /// `auth_sessions` through sea-orm.
    Database(DbSessionStore),
    /// Redis, with keys hashed before they reach it and bounded command times.
    Redis(Arc<RedisSessions>),
}

/// The store chosen by the settings, the database (default) or Redis, with a cache of loaded
/// session states tied to the principal cache (see [`crate::cache`]): a session used again
/// within the cache TTL costs no store read. A state changed or deleted here is dropped from
/// the cache at once; a deleted logged-in session also revokes its user's cached entries on
/// every instance.
#[derive(Clone)]
pub struct AuthSessionStore {
    backend: StoreBackend,
    states: GenCache<Arc<HashMap<String, String>>>,
    auth: Auth,
}

fn state_key(key: &str) -> CacheKey {
    GenCache::<Arc<HashMap<String, String>>>::key("session", key.as_bytes())
}

impl AuthSessionStore {
    /// Builds the store that `auth`'s [`SessionConfig`] selects (connecting to Redis).
    ///
    /// # Errors
    /// A message when Redis cannot be reached or its URL is missing.
    pub async fn from_auth(auth: &Auth) -> Result<Self, String> {
        let config = auth.config::<SessionConfig>().cloned().unwrap_or_default();
        let max = auth.config::<CacheConfig>().map_or(100_000, |c| c.max_entries);
        let states = auth.cache().users().sibling(max);
        let backend = match config.store {
            SessionStoreKind::Database => StoreBackend::Database(DbSessionStore::new(auth.db().clone())),
            SessionStoreKind::Redis => {
                let url = config.redis_url.ok_or("the Redis session store needs session.redis_url")?;
                StoreBackend::Redis(Arc::new(RedisSessions::connect(&url).await?))
            }
        };
        Ok(AuthSessionStore { backend, states, auth: auth.clone() })
    }
}

impl SessionStore for AuthSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let cache_key = state_key(key.as_ref());
        if let Some(state) = self.states.get(&cache_key) {
            return Ok(Some((*state).clone()));
        }
        let snapshot = self.states.snapshot();
        // A database session is cached no longer than it lives; a Redis one at most the TTL
        // past its expiry (its absolute lifetime is checked on every request regardless).
        let (state, expires_at) = match &self.backend {
            StoreBackend::Database(s) => {
                s.load_with_expiry(key).await?.map_or((None, None), |(s, e)| (Some(s), Some(e)))
            }
            StoreBackend::Redis(s) => (s.load(key).await?, None),
        };
        if let Some(state) = &state {
            self.states.insert(cache_key, snapshot, Arc::new(state.clone()), user_of(state), None, expires_at);
        }
        Ok(state)
    }

    async fn save(&self, state: HashMap<String, String>, ttl: &Duration) -> Result<SessionKey, SaveError> {
        match &self.backend {
            StoreBackend::Database(s) => s.save(state, ttl).await,
            StoreBackend::Redis(s) => s.save(state, ttl).await,
        }
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        self.states.remove(&state_key(key.as_ref()));
        let key = match &self.backend {
            StoreBackend::Database(s) => s.update(key, state, ttl).await,
            StoreBackend::Redis(s) => s.update(key, state, ttl).await,
        }?;
        self.states.remove(&state_key(key.as_ref()));
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        match &self.backend {
            StoreBackend::Database(s) => s.update_ttl(key, ttl).await,
            StoreBackend::Redis(s) => s.update_ttl(key, ttl).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let cache_key = state_key(key.as_ref());
        let user = self.states.get(&cache_key).and_then(|s| user_of(&s));
        match &self.backend {
            StoreBackend::Database(s) => s.delete(key).await?,
            StoreBackend::Redis(s) => s.delete(key).await?,
        }
        self.states.remove(&cache_key);
        if let Some(user) = user {
            // Other instances may hold this session's state: they drop the user's entries.
            self.auth.revoked(Subject::User(user)).await;
        }
        Ok(())
    }
}

/// The session middleware: actix-session's `SessionMiddleware` on an [`AuthSessionStore`],
/// configured from the [`SessionConfig`] of the [`Auth`] (cookie name `sessionid`,
/// `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` as configured, idle timeout extended when the
/// state changes, which the Session scheme does rarely; see
/// [`SessionConfig::expiry_refresh_percent`]), with store faults answered 503 instead of 500.
///
/// ```ignore
/// let sessions = Sessions::new(&auth).await?;
/// HttpServer::new(move || App::new().app_data(auth.clone()).wrap(sessions.clone()) /* ... */);
/// ```
#[derive(Clone)]
pub struct Sessions {
    store: AuthSessionStore,
    config: SessionConfig,
    key: Key,
}

impl Sessions {
    /// Builds the middleware for `auth` (connecting to Redis when configured).
    ///
    /// # Errors
    /// A message when the store cannot be set up.
    pub async fn new(auth: &Auth) -> Result<Self, String> {
        let store = AuthSessionStore::from_auth(auth).await?;
        let config = auth.config::<SessionConfig>().cloned().unwrap_or_default();
        let mut material = auth.secret_key().derive("session-cookie-1").to_vec();
        material.extend_from_slice(&auth.secret_key().derive("session-cookie-2"));
        Ok(Sessions { store, config, key: Key::from(&material) })
    }

    fn middleware(&self) -> SessionMiddleware<AuthSessionStore> {
        let idle =
            Duration::seconds(i64::try_from(self.config.idle_timeout).unwrap_or(i64::MAX / 1000).min(10 * 365 * 86400));
        SessionMiddleware::builder(self.store.clone(), self.key.clone())
            .cookie_name(self.config.cookie_name.clone())
            .cookie_secure(self.config.cookie_secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".into())
            .session_lifecycle(
                PersistentSession::default()
                    .session_ttl(idle)
                    .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
            )
            .build()
    }
}

impl<S, B> Transform<S, ServiceRequest> for Sessions
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = FailClosed<<SessionMiddleware<AuthSessionStore> as Transform<S, ServiceRequest>>::Transform>;
    type InitError = ();
    type Future = Pin<Box<dyn Future<Output = Result<Self::Transform, ()>>>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let fut = self.middleware().new_transform(service);
        Box::pin(async move { Ok(FailClosed { inner: Rc::new(fut.await?) }) })
    }
}

/// The service of [`Sessions`]: turns the session layer's own failures (a store that cannot
/// load or save) into 503 `service_unavailable`.
pub struct FailClosed<S> {
    inner: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for FailClosed<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, actix_web::Error>>>>;

    forward_ready!(inner);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            match inner.call(req).await {
                // Errors that reach here come from the session layer itself (handlers' errors
                // are responses by now): a store that failed. Fail closed with 503.
                Err(e) if e.as_response_error().status_code() == StatusCode::INTERNAL_SERVER_ERROR => {
                    tracing::error!(error = %e, "session store failed; answering 503");
                    Err(AuthError::ServiceUnavailable.into())
                }
                other => other,
            }
        })
    }
}
