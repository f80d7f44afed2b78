//! The application state of the framework: [`Auth`], built once at start-up from the settings.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use sea_orm::DatabaseConnection;

use crate::cache::{CacheConfig, PrincipalCache, Subject};
use crate::error::{AuthError, SetupError};
use crate::lifecycle::CredentialStore;
use crate::passwords::{PasswordConfig, PasswordHasher, Passwords};
use crate::permissions::{ErasedPermission, IsAuthenticated, Permission};
use crate::principal::User;
use crate::scheme::{Chain, ErasedChain};
use crate::schemes::{Basic, BasicConfig, JwtConfig, OAuth2Config, SessionConfig, Token, TokenConfig};
use crate::secret::SecretKey;
use crate::throttling::{LoginGuard, LoginKind, ThrottleConfig, ThrottleStore};
use crate::users::{DbUserStore, UserStore};

/// Implemented by `#[derive(AuthSettings)]` on the application's settings struct: declares
/// the default chain and permission and hands each scheme its configuration.
pub trait AuthSettings {
    /// Applies these settings to `builder`.
    fn configure(&self, builder: AuthBuilder) -> AuthBuilder;
}

struct Inner {
    db: DatabaseConnection,
    users: Arc<dyn UserStore>,
    passwords: Passwords,
    configs: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    default_chain: ErasedChain,
    default_permission: Arc<dyn ErasedPermission + Send + Sync>,
    secret_key: SecretKey,
    cache: PrincipalCache,
    default_users: bool,
    credential_stores: Vec<Arc<dyn CredentialStore>>,
    health: crate::db::HealthCheck,
    session_store: std::sync::OnceLock<crate::schemes::session::store::SessionStore>,
}

/// The framework's state: database, user store, password hasher, scheme configurations,
/// default chain and permission, secret key. Cheap to clone (one `Arc`).
///
/// Register it with `App::new().app_data(auth.clone())`; handlers may extract it.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl Auth {
    /// Starts building the state on `db` with the default user table and the given secret.
    pub fn builder(db: DatabaseConnection, secret_key: SecretKey) -> AuthBuilder {
        AuthBuilder {
            users: Arc::new(DbUserStore::new(db.clone())),
            db,
            passwords: PasswordConfig::default(),
            password_hashers: Vec::new(),
            configs: HashMap::new(),
            default_chain: ErasedChain::of::<(Basic, Token)>(),
            default_permission: Arc::new(IsAuthenticated),
            secret_key,
            default_users: true,
            credential_stores: vec![
                Arc::new(crate::schemes::token::TokenCredentials),
                Arc::new(crate::schemes::jwt::JwtCredentials),
                Arc::new(crate::schemes::session::SessionCredentials),
                Arc::new(crate::schemes::oauth2::OAuth2Credentials),
            ],
            set: Vec::new(),
            conflicts: Vec::new(),
        }
        .default_config(BasicConfig::default())
        .default_config(CacheConfig::default())
        .default_config(TokenConfig::default())
        .default_config(JwtConfig::default())
        .default_config(SessionConfig::default())
        .default_config(OAuth2Config::default())
        .default_config(crate::schemes::jwt::KeyCache::default())
        .default_config(ThrottleConfig::default())
        .default_config(crate::hosts::HostsConfig::default())
    }

    /// The database connection.
    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    /// The user store.
    pub fn users(&self) -> &dyn UserStore {
        &*self.0.users
    }

    /// The registered [`CredentialStore`]s, in registration order (the built-in Token, Jwt,
    /// Session and OAuth2 ones first); see [`crate::lifecycle`].
    pub fn credential_stores(&self) -> impl Iterator<Item = &dyn CredentialStore> {
        self.0.credential_stores.iter().map(|s| &**s)
    }

    /// Whether users live in the default `users` table (so the hot-path reads of
    /// [`crate::reads`] may join it), rather than an app's own [`UserStore`].
    pub fn default_users(&self) -> bool {
        self.0.default_users
    }

    /// Whether the database answered a ping (`SELECT 1`) in the last second: at most one
    /// ping per second runs, concurrent callers share its answer, and it times out after
    /// the pool's acquire timeout. For health endpoints.
    pub async fn database_ok(&self) -> bool {
        self.0.health.check(&self.0.db).await
    }

    /// The principal cache (see [`crate::cache`]).
    pub fn cache(&self) -> &PrincipalCache {
        &self.0.cache
    }

    /// Ends the cached principals of `subject` on this instance, and on the others through
    /// the revocation bus. Every revocation path calls it after its database write, before
    /// answering; an app that revokes credentials in its own code must call it too.
    pub async fn revoked(&self, subject: Subject) {
        tracing::info!(target: "auth::audit", subject = %subject.encode(), action = "revoke", "credentials revoked");
        self.0.cache.revoke(subject).await;
    }

    /// Connects the revocation bus of the principal cache (Redis pub/sub when
    /// [`CacheConfig::redis_url`] is set, else on the Redis of the session or throttle store
    /// when one is configured, else PostgreSQL `LISTEN/NOTIFY` on PostgreSQL) and
    /// starts applying the other instances' revocations. Call it once at start-up, inside
    /// the runtime; without it, other instances' revocations show after the cache TTL.
    ///
    /// # Errors
    /// A message when the Redis URL is invalid.
    pub async fn start_revocation_bus(&self) -> Result<(), String> {
        let mut config = self.config::<CacheConfig>().cloned().unwrap_or_default();
        // Without a Redis URL of its own, the bus uses the Redis the sessions or throttles
        // already share between instances.
        if config.redis_url.is_none() {
            let session =
                self.config::<SessionConfig>().filter(|s| s.store == crate::schemes::session::SessionStoreKind::Redis);
            let throttle =
                self.config::<ThrottleConfig>().filter(|t| t.store == crate::throttling::ThrottleStoreKind::Redis);
            config.redis_url =
                session.and_then(|s| s.redis_url.clone()).or_else(|| throttle.and_then(|t| t.redis_url.clone()));
        }
        self.0.cache.connect_bus(&config, &self.0.db).await
    }

    /// Registers the connected session store ([`crate::schemes::session::store::Sessions::new`] does it);
    /// the first registration wins.
    pub(crate) fn set_session_store(&self, store: crate::schemes::session::store::SessionStore) {
        let _ = self.0.session_store.set(store);
    }

    /// The session store: the one [`crate::schemes::session::store::Sessions::new`] connected, else the
    /// database when the settings keep sessions there.
    ///
    /// # Errors
    /// 503 when the settings name Redis but no [`crate::schemes::session::store::Sessions`] was built.
    pub fn session_store(&self) -> Result<&crate::schemes::session::store::SessionStore, AuthError> {
        if let Some(store) = self.0.session_store.get() {
            return Ok(store);
        }
        match self.config::<SessionConfig>().map(|c| c.store).unwrap_or_default() {
            crate::schemes::session::SessionStoreKind::Database => Ok(self
                .0
                .session_store
                .get_or_init(|| crate::schemes::session::store::SessionStore::Database(self.0.db.clone()))),
            crate::schemes::session::SessionStoreKind::Redis => {
                tracing::error!("the Redis session store is not connected: build Sessions::new(&auth) at start-up");
                Err(AuthError::ServiceUnavailable)
            }
        }
    }

    /// The password hasher.
    pub fn passwords(&self) -> &Passwords {
        &self.0.passwords
    }

    /// The secret key (for schemes that sign; each use derives its own key).
    pub fn secret_key(&self) -> &SecretKey {
        &self.0.secret_key
    }

    /// The configuration of type `C` (a scheme's [`Scheme::Config`]); every built-in scheme
    /// has one, the settings' or the default.
    pub fn config<C: Any + Send + Sync>(&self) -> Option<&C> {
        self.0.configs.get(&TypeId::of::<C>())?.downcast_ref()
    }

    /// The configuration of type `C` (e.g. a scheme's [`crate::Scheme::Config`]), or 500
    /// `improperly_configured` when none was given.
    pub fn required_config<C: Any + Send + Sync>(&self) -> Result<&C, AuthError> {
        self.config::<C>().ok_or(AuthError::ImproperlyConfigured("a scheme of the chain has no configuration"))
    }

    pub(crate) fn default_chain(&self) -> ErasedChain {
        self.0.default_chain
    }

    pub(crate) fn default_permission(&self) -> &(dyn ErasedPermission + Send + Sync) {
        &*self.0.default_permission
    }

    /// Checks a username and password as every password endpoint does: first the login
    /// lockout (429 past the limit of failures for this username or client IP, before any
    /// hash is computed); then a place in the bounded queue of hashes
    /// ([`Passwords::admit`]: 429 past the client address's share, 503 with `Retry-After`
    /// when the queue is full, at once, the lockout's reservation given back); then the user
    /// is looked up, the password verified (a dummy verification when the user does not
    /// exist, so timing does not tell who exists), a weak stored hash re-hashed, and
    /// inactive users refused. `Ok(None)` for every refusal, whatever its cause.
    ///
    /// # Errors
    /// 429 `throttled` when locked out or past the address's share of the hash queue; 503
    /// when the hash queue is full (with `Retry-After`) or a store fails.
    pub async fn check_password(
        &self,
        req: &HttpRequest,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AuthError> {
        let guard = self.login_guard(LoginKind::Password);
        // The attempt is reserved before the hash runs: concurrent guesses cannot all pass
        // a check that counts only finished failures.
        let _attempt = guard.reserve(req, username).await?;
        let ip = crate::throttling::client_ip(req, self.config::<ThrottleConfig>().map_or(0, |c| c.num_proxies));
        // Load shedding: a place in the bounded hash queue, or a refusal at once (the check
        // did not run: the reservation is given back, as for a store fault).
        let slot = match self.passwords().admit(&ip) {
            Ok(slot) => slot,
            Err(e) => {
                guard.release(req, username).await;
                return Err(e);
            }
        };
        let user = match self.verify_password(req, username, password).await {
            Ok(user) => user,
            Err(e) => {
                guard.release(req, username).await;
                return Err(e);
            }
        };
        drop(slot);
        match &user {
            Some(_) => {
                guard.succeeded(req, username).await?;
                tracing::info!(target: "auth::audit", username, %ip, path = req.path(), outcome = "ok", "password check");
            }
            None => {
                guard.failed(req, username).await?;
                tracing::info!(target: "auth::audit", username, %ip, path = req.path(), outcome = "authentication_failed", "password check");
            }
        }
        Ok(user)
    }

    /// After issuing a credential on the strength of [`Auth::check_password`] in this
    /// request: whether the user's password (hash) is still the one that was verified and
    /// the user still active. A password change racing the login (between the check and the
    /// issuance) makes it `false`; the issuer then revokes what it issued and answers as for
    /// a wrong password. Together with the check before issuing, no credential obtained with
    /// the old password survives a change (a change's revocation runs after its hash update).
    ///
    /// # Errors
    /// 503 when the store fails.
    pub async fn confirm_login(&self, req: &HttpRequest, user: &User) -> Result<bool, AuthError> {
        use actix_web::HttpMessage;
        let Some(verified) = req.extensions().get::<VerifiedHash>().map(|v| v.0.clone()) else {
            return Ok(false);
        };
        self.hash_unchanged(user.id, &verified).await
    }

    /// Whether user `id` is still active with `hash` as its stored password hash (one read).
    async fn hash_unchanged(&self, id: i64, hash: &str) -> Result<bool, AuthError> {
        let current = self.users().by_id(id).await?;
        Ok(current.is_some_and(|c| c.user.is_active && c.password_hash == hash))
    }

    /// The lockout of guessing for password checks or OAuth2 client authentication (see
    /// [`crate::throttling::LoginGuard`]).
    pub fn login_guard(&self, kind: LoginKind) -> LoginGuard<'_> {
        LoginGuard::new(self, kind)
    }

    async fn verify_password(
        &self,
        req: &HttpRequest,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AuthError> {
        let stored = self.users().by_login(username).await?;
        let hash = stored.as_ref().map(|s| s.password_hash.clone());
        let verdict = self.passwords().verify(password, hash).await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        if !verdict.valid || !stored.user.is_active {
            return Ok(None);
        }
        // The hash took time (and may have queued): if the password changed or the user was
        // deactivated meanwhile, this check verified a stale hash and must issue nothing.
        if !self.hash_unchanged(stored.user.id, &stored.password_hash).await? {
            return Ok(None);
        }
        // Kept for `confirm_login`, which issuers call after issuing (the upgraded hash when
        // the stored one is re-hashed below).
        {
            use actix_web::HttpMessage;
            let kept = verdict.rehashed.clone().unwrap_or_else(|| stored.password_hash.clone());
            req.extensions_mut().insert(VerifiedHash(kept));
        }
        if let Some(new_hash) = verdict.rehashed {
            self.users().set_password_hash(stored.user.id, &new_hash).await?;
        }
        Ok(Some(stored.user))
    }

    /// Reads the state registered in the app.
    ///
    /// # Errors
    /// 500 `improperly_configured` when `app_data(auth)` was not called.
    pub fn from_request_ref(req: &HttpRequest) -> Result<Auth, AuthError> {
        req.app_data::<Auth>()
            .cloned()
            .ok_or(AuthError::ImproperlyConfigured("Auth is not registered with App::app_data"))
    }
}

impl FromRequest for Auth {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Auth::from_request_ref(req))
    }
}

/// The stored hash a password check of this request verified (see [`Auth::confirm_login`]).
#[derive(Clone)]
struct VerifiedHash(String);

/// Builds an [`Auth`]; see [`Auth::builder`].
pub struct AuthBuilder {
    db: DatabaseConnection,
    users: Arc<dyn UserStore>,
    passwords: PasswordConfig,
    password_hashers: Vec<Arc<dyn PasswordHasher>>,
    configs: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    default_chain: ErasedChain,
    default_permission: Arc<dyn ErasedPermission + Send + Sync>,
    secret_key: SecretKey,
    default_users: bool,
    credential_stores: Vec<Arc<dyn CredentialStore>>,
    /// What the app set explicitly (a call, or a configuration type), to refuse a second
    /// call that would silently override the first.
    set: Vec<Setting>,
    conflicts: Vec<String>,
}

/// One explicit builder setting, for [`AuthBuilder`]'s override check.
#[derive(PartialEq, Eq)]
enum Setting {
    Call(&'static str),
    Config(TypeId),
}

impl AuthBuilder {
    /// Records an explicit setting; a second one of the same is a conflict that
    /// [`AuthBuilder::build`] reports.
    fn mark(&mut self, setting: Setting, what: impl FnOnce() -> String) {
        if self.set.contains(&setting) {
            self.conflicts.push(what());
        } else {
            self.set.push(setting);
        }
    }

    /// A default value, which one explicit [`AuthBuilder::with_config`] may replace.
    fn default_config<C: Any + Send + Sync>(mut self, config: C) -> Self {
        self.configs.insert(TypeId::of::<C>(), Box::new(config));
        self
    }

    /// Registers the [`CredentialStore`] of a scheme that stores credentials (after the
    /// built-in ones), so the functions of [`crate::lifecycle`] (password change,
    /// deactivation, deletion, flushing expired records) include it. A store with the name of
    /// one already registered replaces it.
    pub fn credentials(mut self, store: impl CredentialStore) -> Self {
        let store: Arc<dyn CredentialStore> = Arc::new(store);
        match self.credential_stores.iter_mut().find(|s| s.name() == store.name()) {
            Some(existing) => *existing = store,
            None => self.credential_stores.push(store),
        }
        self
    }

    /// Applies a settings struct (see `#[derive(AuthSettings)]`).
    pub fn settings(self, settings: &impl AuthSettings) -> Self {
        settings.configure(self)
    }

    /// Sets the default chain (a tuple of schemes, e.g. `(Basic, Token)`).
    pub fn default_chain<C: Chain>(mut self) -> Self {
        self.mark(Setting::Call("default_chain"), || "the default chain is set twice".into());
        self.default_chain = ErasedChain::of::<C>();
        self
    }

    /// Sets the default permission: the one of handlers without `#[permission]` and of the
    /// [`crate::Principal`] extractor ([`crate::permissions::DefaultPermission`]), used for
    /// object permissions too. It is kept behind a `dyn`: the built-ins and their
    /// combinations are checked without allocating; a permission of the app's own that
    /// awaits has its future boxed once per request.
    pub fn default_permission(mut self, permission: impl Permission + Send + Sync) -> Self {
        self.mark(Setting::Call("default_permission"), || "the default permission is set twice".into());
        self.default_permission = Arc::new(permission);
        self
    }

    /// Sets a configuration value (a scheme's [`Scheme::Config`] or an app's own).
    pub fn with_config<C: Any + Send + Sync>(mut self, config: C) -> Self {
        self.mark(Setting::Config(TypeId::of::<C>()), || {
            format!("`{}` is configured twice", std::any::type_name::<C>())
        });
        self.configs.insert(TypeId::of::<C>(), Box::new(config));
        self
    }

    /// Replaces the user store (an app's own user table).
    pub fn users(mut self, store: impl UserStore) -> Self {
        self.mark(Setting::Call("users"), || "the user store is set twice".into());
        self.users = Arc::new(store);
        self.default_users = false;
        self
    }

    /// Sets the password hashing parameters (argon2id; never below OWASP's minimum).
    pub fn passwords(mut self, config: PasswordConfig) -> Self {
        self.mark(Setting::Call("passwords"), || "the password settings are set twice".into());
        self.passwords = config;
        self
    }

    /// Adds a stored-hash format to verify (see [`PasswordHasher`] and
    /// [`Passwords::with_hasher`]); argon2id stays the format of new hashes, and a hash of
    /// this format is re-hashed to argon2id on the next good login. Django's formats are
    /// built in.
    pub fn password_hasher(mut self, hasher: impl PasswordHasher) -> Self {
        self.password_hashers.push(Arc::new(hasher));
        self
    }

    /// Finishes the state, checking what needs no connection: no setting was made twice (a
    /// second `users`, `default_chain`, `default_permission`, `passwords` or `with_config`
    /// of one type would silently override the first), and the JWT settings are usable
    /// (keys for an asymmetric algorithm). [`AuthBuilder::start`] also connects the stores.
    ///
    /// # Errors
    /// [`SetupError::Conflict`] listing every setting made twice; [`SetupError::Jwt`].
    pub fn build(self) -> Result<Auth, SetupError> {
        if !self.conflicts.is_empty() {
            return Err(SetupError::Conflict(self.conflicts.join("; ")));
        }
        let auth = self.assemble();
        crate::schemes::jwt::check_config(&auth).map_err(SetupError::Jwt)?;
        Ok(auth)
    }

    fn assemble(mut self) -> Auth {
        let throttle =
            self.configs.get(&TypeId::of::<ThrottleConfig>()).and_then(|c| c.downcast_ref::<ThrottleConfig>());
        let store = ThrottleStore::new(&throttle.cloned().unwrap_or_default());
        self.configs.insert(TypeId::of::<ThrottleStore>(), Box::new(store));
        let cache = self.configs.get(&TypeId::of::<CacheConfig>()).and_then(|c| c.downcast_ref::<CacheConfig>());
        let cache = PrincipalCache::new(&cache.cloned().unwrap_or_default());
        Auth(Arc::new(Inner {
            db: self.db,
            users: self.users,
            passwords: self
                .password_hashers
                .into_iter()
                .fold(Passwords::new(self.passwords), Passwords::with_shared_hasher),
            configs: self.configs,
            default_chain: self.default_chain,
            default_permission: self.default_permission,
            secret_key: self.secret_key,
            cache,
            default_users: self.default_users,
            credential_stores: self.credential_stores,
            health: crate::db::HealthCheck::default(),
            session_store: std::sync::OnceLock::new(),
        }))
    }
}
