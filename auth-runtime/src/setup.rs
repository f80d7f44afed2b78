//! Building the state: [`AuthBuilder`] registers the built-in schemes (their default
//! configurations and [`CredentialStore`]s, the JWT key check at build), the throttle store,
//! the principal cache, the default chain, permission and pipeline into an [`Auth`], which
//! knows none of them. It stands above the schemes, the permissions and the pipeline.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::cache::{CacheConfig, PrincipalCache};
use crate::error::SetupError;
use crate::lifecycle::{CredentialStore, CredentialStores};
use crate::passwords::{PasswordConfig, PasswordHasher, Passwords};
use crate::permissions::{DefaultPermissionSlot, ErasedPermission, IsAuthenticated, Permission};
use crate::scheme::{Chain, erase};
use crate::schemes::session::SessionStoreKind;
use crate::schemes::session::store::SessionStoreSlot;
use crate::schemes::{Basic, BasicConfig, JwtConfig, OAuth2Config, SessionConfig, Token, TokenConfig};
use crate::schemes::{jwt, oauth2, session, token};
use crate::secret::SecretKey;
use crate::state::{Auth, ErasedChain, Inner};
use crate::throttling::{ThrottleConfig, ThrottleStore, ThrottleStoreKind};
use crate::users::{DbUserStore, UserStore};

/// Implemented by `#[derive(AuthSettings)]` on the application's settings struct: declares
/// the default chain and permission and hands each scheme its configuration.
pub trait AuthSettings {
    /// Applies these settings to `builder`.
    fn configure(&self, builder: AuthBuilder) -> AuthBuilder;
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
            default_chain: erase::<(Basic, Token)>(),
            default_permission: Arc::new(IsAuthenticated),
            secret_key,
            default_users: true,
            credential_stores: vec![
                Arc::new(token::TokenCredentials),
                Arc::new(jwt::JwtCredentials),
                Arc::new(session::SessionCredentials),
                Arc::new(oauth2::OAuth2Credentials),
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
        .default_config(jwt::KeyCache::default())
        .default_config(SessionStoreSlot::default())
        .default_config(ThrottleConfig::default())
        .default_config(crate::hosts::HostsConfig::default())
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
            let session = self.config::<SessionConfig>().filter(|s| s.store == SessionStoreKind::Redis);
            let throttle = self.config::<ThrottleConfig>().filter(|t| t.store == ThrottleStoreKind::Redis);
            config.redis_url =
                session.and_then(|s| s.redis_url.clone()).or_else(|| throttle.and_then(|t| t.redis_url.clone()));
        }
        self.cache().connect_bus(&config, self.db()).await
    }
}

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
        self.default_chain = erase::<C>();
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

    /// Sets a configuration value (a scheme's [`crate::Scheme::Config`] or an app's own).
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
        jwt::check_config(&auth).map_err(SetupError::Jwt)?;
        Ok(auth)
    }

    fn assemble(mut self) -> Auth {
        let throttle =
            self.configs.get(&TypeId::of::<ThrottleConfig>()).and_then(|c| c.downcast_ref::<ThrottleConfig>());
        let store = ThrottleStore::new(&throttle.cloned().unwrap_or_default());
        self.configs.insert(TypeId::of::<ThrottleStore>(), Box::new(store));
        let cache = self.configs.get(&TypeId::of::<CacheConfig>()).and_then(|c| c.downcast_ref::<CacheConfig>());
        let cache = PrincipalCache::new(&cache.cloned().unwrap_or_default());
        self.configs.insert(TypeId::of::<CredentialStores>(), Box::new(CredentialStores(self.credential_stores)));
        self.configs
            .insert(TypeId::of::<DefaultPermissionSlot>(), Box::new(DefaultPermissionSlot(self.default_permission)));
        Auth::from_inner(Inner {
            db: self.db,
            users: self.users,
            passwords: self
                .password_hashers
                .into_iter()
                .fold(Passwords::new(self.passwords), Passwords::with_shared_hasher),
            configs: self.configs,
            default_chain: self.default_chain,
            anonymous_challenges: Default::default(),
            secret_key: self.secret_key,
            cache,
            default_users: self.default_users,
            health: crate::db::HealthCheck::default(),
        })
    }
}
