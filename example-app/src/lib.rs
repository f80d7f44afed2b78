//! The reference application of `auth-runtime`: a small books API whose handlers are
//! protected by the framework. Its outside interface (routes, bodies, CLI) is fixed by
//! `CONTRACT.md`; read this file as the example to copy.
//!
//! - [`Settings`] declares the default chain and permission and configures each scheme.
//! - [`connect`] opens and migrates the database; [`build_auth`] builds the framework state.
//! - [`app`] is the actix-web application; `main.rs` is the CLI around it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use auth_runtime::http::not_allowed;
use auth_runtime::passwords::PasswordConfig;
use auth_runtime::secret::SecretKeyError;
use auth_runtime::{
    Auth, AuthError, AuthSettings, BasicConfig, JwtConfig, OAuth2Config, Principal, SchemeData, SecretKey,
    SessionConfig, TokenConfig, authentication, permission,
};
use auth_runtime::{AuthBuilder, CacheConfig, EndpointsConfig, HostsConfig, PoolConfig, ThrottleConfig};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use serde::{Deserialize, Serialize};

pub mod books;

/// The database used when neither `--database-url` nor `DATABASE_URL` is given: a SQLite
/// file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://example-app.sqlite3?mode=rwc";

/// The app's settings. `#[derive(AuthSettings)]` reads the `#[auth(...)]` attributes: the
/// default chain (tried in order for every handler without `#[authentication]`), the
/// default permission, and which field configures which scheme.
///
/// Values come from these defaults, then `example-app.toml` (optional), then `AUTH_*`
/// environment variables (`AUTH_TOKEN_TTL` sets `token.ttl`, in seconds).
#[derive(Debug, Clone, Serialize, Deserialize, AuthSettings)]
#[auth(chain(Session, Basic, Token, Jwt, OAuth2), permission(IsAuthenticated))]
#[serde(default)]
pub struct Settings {
    /// HTTP Basic: the realm of the challenge.
    #[auth(basic)]
    pub basic: BasicConfig,
    /// API tokens: keyword and lifetime (`ttl`, seconds; none by default).
    #[auth(token)]
    pub token: TokenConfig,
    /// Sessions: cookie, idle timeout (seconds), store (database or Redis).
    #[auth(session)]
    pub session: SessionConfig,
    /// JWTs: lifetimes (`access_lifetime`, `refresh_lifetime`, seconds), rotation, keys.
    #[auth(jwt)]
    pub jwt: JwtConfig,
    /// OAuth2: token lifetimes (seconds), scopes, issuer (`AUTH_ISSUER`).
    #[auth(oauth2)]
    pub oauth2: OAuth2Config,
    /// Throttling: `anon` and `user` rates (DRF syntax, e.g. `100/min`), scopes, and the
    /// login lockout (`login_failures`, default `10/60s`).
    #[auth(throttle)]
    pub throttle: ThrottleConfig,
    /// The principal cache (`AUTH_CACHE_TTL`, `AUTH_CACHE_BASIC_TTL`, `AUTH_CACHE_REDIS_URL`, ...).
    #[auth(cache)]
    pub cache: CacheConfig,
    /// The hosts this app answers for and its public origin (`AUTH_ALLOWED_HOSTS`, a comma
    /// list; `AUTH_PUBLIC_ORIGIN`); trusted proxies are `throttle.num_proxies`
    /// (`AUTH_NUM_PROXIES`).
    #[auth(hosts)]
    pub hosts: HostsConfig,
    /// Where the framework's endpoint groups are mounted (the contract's paths:
    /// `/api/auth`, `/accounts/login`, `/o`).
    #[auth(endpoints)]
    pub endpoints: EndpointsConfig,
    /// The database pool (`AUTH_POOL_MAX_CONNECTIONS`, `AUTH_POOL_ACQUIRE_TIMEOUT_MS`, ...).
    pub pool: PoolConfig,
    /// Password hashing: argon2id costs and the load shedding of password checks
    /// (`AUTH_PASSWORDS_MAX_WAITING`, `AUTH_PASSWORDS_MAX_PER_CLIENT`, ...).
    pub passwords: PasswordConfig,
    /// `AUTH_SECRET_KEY`: at least 32 bytes; generated and kept in the database when unset.
    #[serde(skip_serializing)]
    pub secret_key: Option<String>,
}

impl Default for Settings {
    /// The framework's defaults, with two changes: JWT refresh-token rotation and
    /// blacklisting after rotation are on (Simple JWT leaves them off), and the session and
    /// CSRF cookies are not `Secure`, because the example app is served over plain HTTP on
    /// loopback (`AUTH_SESSION_COOKIE_SECURE=true` turns it back on behind HTTPS).
    fn default() -> Self {
        Settings {
            basic: BasicConfig::default(),
            token: TokenConfig::default(),
            session: SessionConfig { cookie_secure: false, ..SessionConfig::default() },
            jwt: JwtConfig { rotate_refresh_tokens: true, blacklist_after_rotation: true, ..JwtConfig::default() },
            oauth2: OAuth2Config::default(),
            throttle: ThrottleConfig::default(),
            cache: CacheConfig::default(),
            hosts: HostsConfig::default(),
            endpoints: EndpointsConfig::default(),
            pool: PoolConfig::default(),
            passwords: PasswordConfig::default(),
            secret_key: None,
        }
    }
}

impl Settings {
    /// Loads the settings: defaults, then `example-app.toml` if present, then `AUTH_*`
    /// environment variables (`AUTH_<SECTION>_<FIELD>` sets `<section>.<field>`; `AUTH_ISSUER`
    /// sets `oauth2.issuer`, `AUTH_ALLOWED_HOSTS` and `AUTH_PUBLIC_ORIGIN` the `hosts`
    /// fields, `AUTH_NUM_PROXIES` `throttle.num_proxies`).
    ///
    /// # Errors
    /// A value of the wrong type (e.g. `AUTH_TOKEN_TTL=soon`).
    pub fn load() -> Result<Self, Box<figment::Error>> {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file("example-app.toml"))
            .merge(Env::prefixed("AUTH_").map(|key| {
                let key = key.as_str().to_ascii_lowercase();
                if key == "issuer" {
                    return "oauth2.issuer".into();
                }
                if key == "login_failures" {
                    return "throttle.login_failures".into();
                }
                if key == "allowed_hosts" || key == "public_origin" {
                    return format!("hosts.{key}").into();
                }
                if key == "num_proxies" {
                    return "throttle.num_proxies".into();
                }
                for section in
                    ["basic", "token", "jwt", "session", "throttle", "oauth2", "cache", "pool", "hosts", "passwords"]
                {
                    if let Some(field) = key.strip_prefix(section).and_then(|k| k.strip_prefix('_')) {
                        return format!("{section}.{field}").into();
                    }
                }
                key.into()
            }))
            .extract()
            .map_err(Box::new)
    }
}

/// The app's migrations: the framework's tables, then its own.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        let mut all = auth_runtime::migrations::migrations();
        all.push(Box::new(books::CreateBooks));
        all
    }
}

/// Opens the database at `url` (`sqlite://...` or `postgres://...`) and applies every
/// pending migration, so a new SQLite file is ready on first start.
///
/// # Errors
/// The database cannot be reached or migrated.
pub async fn connect(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    connect_with(url, &PoolConfig::default()).await
}

/// [`connect`] with the pool settings of [`Settings::pool`] (see `auth_runtime::db`).
///
/// # Errors
/// The database cannot be reached or migrated.
pub async fn connect_with(url: &str, pool: &PoolConfig) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let db = auth_runtime::db::connect(url, pool).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// The framework's builder from the settings: secret key (given or kept in the database),
/// password costs, default chain and permission, scheme configurations.
///
/// # Errors
/// A secret key under 32 bytes, or a database failure.
async fn builder(db: DatabaseConnection, settings: &Settings) -> Result<AuthBuilder, SecretKeyError> {
    let secret = SecretKey::load_or_create(&db, settings.secret_key.as_deref()).await?;
    Ok(Auth::builder(db, secret).passwords(settings.passwords).settings(settings))
}

/// Builds the framework state from the settings (see [`builder`]), without connecting the
/// session store: what the CLI needs.
///
/// # Errors
/// A secret key under 32 bytes, a database failure, or invalid settings.
pub async fn build_auth(db: DatabaseConnection, settings: &Settings) -> Result<Auth, SecretKeyError> {
    builder(db, settings).await?.build().map_err(|e| SecretKeyError::Config(e.to_string()))
}

/// What the application needs at run time: the framework state and the session middleware
/// ([`auth_runtime::Framework`]).
pub type AppState = auth_runtime::Framework;

/// Starts the framework from the settings ([`auth_runtime::AuthBuilder::start`]: JWT keys
/// checked, session store and revocation bus connected).
///
/// # Errors
/// A message naming what is misconfigured or unreachable.
pub async fn build_state(db: DatabaseConnection, settings: &Settings) -> Result<AppState, String> {
    builder(db, settings).await.map_err(|e| e.to_string())?.start().await.map_err(|e| e.to_string())
}

/// The application: the framework mounted by [`auth_runtime::mount::app`] (its endpoints,
/// sessions, JSON errors for everything, the HTTP edge) with the contract's routes.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    auth_runtime::mount::app(&state, routes)
}

/// Registers the contract's own routes (the framework's endpoints are mounted by
/// [`auth_runtime::mount::app`]); each resource answers 405 (with `Allow`) to other methods.
pub fn routes(cfg: &mut web::ServiceConfig) {
    fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
        web::resource(path).default_service(not_allowed(allow))
    }
    cfg.service(resource("/", "GET").get(spa))
        .service(resource("/spa.js", "GET").get(spa_js))
        .service(resource("/spa.css", "GET").get(spa_css))
        .service(resource("/api/health", "GET").get(health))
        .service(resource("/api/whoami", "GET").get(whoami))
        .service(resource("/api/basic/whoami", "GET").get(basic_whoami))
        .service(resource("/api/token/whoami", "GET").get(token_whoami))
        .service(resource("/api/session/whoami", "GET").get(session_whoami))
        .service(resource("/api/jwt/whoami", "GET").get(jwt_whoami))
        .service(resource("/api/oauth2/whoami", "GET").get(oauth2_whoami))
        .service(resource("/api/books", "GET, POST").get(books::list).post(books::create))
        // Only numeric ids route here, so `/api/books/abc` is a routing 404, before authentication.
        .service(resource("/api/books/{id:[0-9]+}", "GET, DELETE").get(books::get).delete(books::delete))
        .service(resource("/api/admin/users", "GET").get(admin_users));
}

/// `GET /api/health`: public. 200 `{"status": "ok", "database": "ok"}`, or 503 with
/// `"database": "unavailable"`.
async fn health(auth: Auth) -> HttpResponse {
    // A ping at most once a second, shared by concurrent requests (see `Auth::database_ok`).
    match auth.database_ok().await {
        true => HttpResponse::Ok().json(serde_json::json!({"status": "ok", "database": "ok"})),
        false => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "unavailable",
            "database": "unavailable",
            "detail": "The database cannot be reached.",
            "code": "service_unavailable",
        })),
    }
}

/// The body of every whoami route: `{"username", "scheme"}`, plus `"scopes"` for an OAuth2
/// token, and `"client_id"` for a client-credentials token (whose `username` is null).
fn describe(principal: &Principal) -> HttpResponse {
    let mut body = serde_json::json!({
        "username": principal.username(),
        "scheme": principal.scheme,
    });
    if let SchemeData::OAuth2 { client_id, scopes, .. } = &principal.data {
        body["scopes"] = scopes.clone().into();
        if principal.user.is_none() {
            body["client_id"] = client_id.clone().into();
        }
    }
    HttpResponse::Ok().json(body)
}

/// `GET /api/whoami`: the default chain and permission (no annotation needed).
async fn whoami(principal: Principal) -> HttpResponse {
    describe(&principal)
}

/// `GET /api/basic/whoami`: only HTTP Basic.
#[authentication(Basic)]
async fn basic_whoami(principal: Principal) -> HttpResponse {
    describe(&principal)
}

/// `GET /api/token/whoami`: only API tokens.
#[authentication(Token)]
async fn token_whoami(principal: Principal) -> HttpResponse {
    describe(&principal)
}

/// `GET /`: the single-page app (plain HTML and JavaScript): log in, list and add books,
/// log out, with the session cookie and the CSRF header.
async fn spa() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(include_str!("spa.html"))
}

/// `GET /spa.js`: the single-page app's script (a file of its own: the pages' CSP allows no
/// inline script).
async fn spa_js() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(include_str!("spa.js"))
}

/// `GET /spa.css`: the single-page app's style sheet.
async fn spa_css() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(include_str!("spa.css"))
}

/// `GET /api/session/whoami`: only sessions.
#[authentication(Session)]
async fn session_whoami(principal: Principal) -> HttpResponse {
    describe(&principal)
}

/// `GET /api/jwt/whoami`: only JWT access tokens.
#[authentication(Jwt)]
async fn jwt_whoami(principal: Principal) -> HttpResponse {
    describe(&principal)
}

/// `GET /api/oauth2/whoami`: only OAuth2 access tokens (a user's or a client's).
#[authentication(OAuth2)]
async fn oauth2_whoami(principal: Principal) -> HttpResponse {
    describe(&principal)
}

/// `GET /api/admin/users`: staff only; every user with its flags.
#[permission(IsAdminUser)]
async fn admin_users(auth: Auth) -> Result<HttpResponse, AuthError> {
    let users = auth_runtime::lifecycle::list_users(&auth).await?;
    let body: Vec<_> = users
        .into_iter()
        .map(|u| serde_json::json!({"username": u.username, "is_staff": u.is_staff, "is_active": u.is_active}))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}
