//! The application state of the framework: [`Auth`], the services every part shares (the
//! database, the user store, the password hasher, the principal cache, the secret key, the
//! default chain) and the typed map of configurations and services the parts above register.
//! It knows traits and erased types, not schemes: [`crate::setup`] builds it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use sea_orm::DatabaseConnection;

use crate::cache::{PrincipalCache, Subject};
use crate::error::AuthError;
use crate::passwords::Passwords;
use crate::principal::Principal;
use crate::secret::SecretKey;
use crate::users::UserStore;

/// The boxed future of the settings' default chain.
pub(crate) type ChainFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<Principal>, AuthError>> + 'a>>;

/// The challenges of the settings' default chain; the scheme (by name) that rejected the
/// request, if any.
pub(crate) type ChainChallenges = fn(&Auth, Option<(&'static str, &AuthError)>) -> Vec<String>;

/// A chain chosen at run time (the settings' default), erased to function pointers into a
/// statically dispatched tuple chain (made by `scheme::erase`).
#[derive(Clone, Copy)]
pub(crate) struct ErasedChain {
    /// Runs the chain.
    pub(crate) authenticate: for<'a> fn(&'a HttpRequest, &'a Auth) -> ChainFuture<'a>,
    /// The chain's challenges; the scheme (by name) that rejected the request, if any.
    pub(crate) challenges: ChainChallenges,
    /// The chain's self-descriptions (see `Chain::describe`).
    pub(crate) describe: fn(&Auth) -> Vec<(&'static str, crate::apidoc::SchemeDoc)>,
}

/// What [`Auth`] holds; [`crate::setup::AuthBuilder`] fills it.
pub(crate) struct Inner {
    pub(crate) db: DatabaseConnection,
    pub(crate) users: Arc<dyn UserStore>,
    pub(crate) passwords: Passwords,
    /// Configurations and services by type: each scheme's configuration, and what the parts
    /// above register (the throttle store, the session store, the credential stores, the
    /// default permission...), each read back by its own module.
    pub(crate) configs: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    pub(crate) default_chain: ErasedChain,
    pub(crate) secret_key: SecretKey,
    pub(crate) cache: PrincipalCache,
    pub(crate) default_users: bool,
    pub(crate) health: crate::db::HealthCheck,
    /// Each chain's challenges for a request without credentials, by the chain's type.
    pub(crate) anonymous_challenges: std::sync::RwLock<HashMap<TypeId, Arc<[String]>>>,
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
    /// The state made of `inner` (see [`crate::setup::AuthBuilder::build`]).
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Auth(Arc::new(inner))
    }

    /// The database connection.
    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    /// The user store.
    pub fn users(&self) -> &dyn UserStore {
        &*self.0.users
    }

    /// Whether users live in the default `users` table (so the hot-path reads of
    /// hot-path reads may join it), rather than an app's own [`UserStore`].
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

    /// The password hasher.
    pub fn passwords(&self) -> &Passwords {
        &self.0.passwords
    }

    /// The secret key (for schemes that sign; each use derives its own key).
    pub fn secret_key(&self) -> &SecretKey {
        &self.0.secret_key
    }

    /// The configuration of type `C` (a scheme's [`crate::Scheme::Config`]); every built-in scheme
    /// has one, the settings' or the default.
    pub fn config<C: Any + Send + Sync>(&self) -> Option<&C> {
        self.0.configs.get(&TypeId::of::<C>())?.downcast_ref()
    }

    /// The configuration of type `C` (e.g. a scheme's [`crate::Scheme::Config`]), or 500
    /// `improperly_configured` when none was given.
    pub fn required_config<C: Any + Send + Sync>(&self) -> Result<&C, AuthError> {
        self.config::<C>().ok_or(AuthError::ImproperlyConfigured("a scheme of the chain has no configuration"))
    }

    /// The challenges of the chain `chain` (a type id) for a request without credentials:
    /// `make`'s answer, computed once (once per chain type).
    pub(crate) fn memoized_challenges(&self, chain: TypeId, make: impl FnOnce() -> Vec<String>) -> Vec<String> {
        let read = self.0.anonymous_challenges.read().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = read.get(&chain) {
            return list.to_vec();
        }
        drop(read);
        let list = make();
        let mut write = self.0.anonymous_challenges.write().unwrap_or_else(|e| e.into_inner());
        write.entry(chain).or_insert_with(|| list.clone().into());
        list
    }

    /// The settings' default chain (see [`crate::scheme::DefaultChain`]).
    pub(crate) fn default_chain(&self) -> ErasedChain {
        self.0.default_chain
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
