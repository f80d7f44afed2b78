//! A second example of `auth-runtime`, the one to copy: an app with its own `members` table
//! (logging in by e-mail), an `X-Api-Key` scheme beside Token, an owner-only rule, a throttle
//! per role, and the framework's endpoints under `/v1/auth`.
//!
//! - [`members`]: the table and [`members::MemberStore`], the framework's `UserStore`.
//! - [`api_key`]: the [`api_key::ApiKey`] scheme and its `CredentialStore`.
//! - [`notes`]: `GET`/`PUT /v1/notes/{id}` and the [`notes::IsOwner`] rule.
//! - [`throttle`]: the [`throttle::PerRole`] throttle.
//! - Here: [`Settings`], [`connect`], [`build_state`], [`app`] and [`routes`].

#![warn(missing_docs)]

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use auth_runtime::http::not_allowed;
use auth_runtime::throttling::Rate;
use auth_runtime::{
    Auth, AuthError, AuthSettings, BasicConfig, EndpointsConfig, JwtConfig, Principal, SecretKey, SessionConfig,
    ThrottleConfig, TokenConfig, authentication,
};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

pub mod api_key;
pub mod members;
pub mod migration;
pub mod notes;
pub mod throttle;

use api_key::{ApiKey, ApiKeyConfig, ApiKeyCredentials};
use members::{Member, MemberStore};

/// The database when neither `--database-url` nor `DATABASE_URL` is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://members.sqlite3?mode=rwc";

/// The app's settings: the default chain is `ApiKey, Token`; every route needs a member
/// unless it says otherwise.
#[derive(Debug, Clone, AuthSettings)]
#[auth(chain(ApiKey, Token), permission(IsAuthenticated))]
pub struct Settings {
    /// The `X-Api-Key` scheme (its realm).
    #[auth(scheme = ApiKey)]
    pub api_key: ApiKeyConfig,
    /// API tokens from `POST /v1/auth/token`.
    #[auth(token)]
    pub token: TokenConfig,
    /// HTTP Basic (used by `GET /v1/me`).
    #[auth(basic)]
    pub basic: BasicConfig,
    /// Sessions from `POST /v1/auth/login`.
    #[auth(session)]
    pub session: SessionConfig,
    /// JWTs from `POST /v1/auth/jwt/create`.
    #[auth(jwt)]
    pub jwt: JwtConfig,
    /// Rates; [`throttle::PerRole`] reads `scopes["role:<role>"]`.
    #[auth(throttle)]
    pub throttle: ThrottleConfig,
    /// The framework's JSON endpoints under `/v1/auth`; no HTML login page, no OAuth2.
    #[auth(endpoints)]
    pub endpoints: EndpointsConfig,
    /// At least 32 bytes; generated and kept in the database when `None`.
    pub secret_key: Option<String>,
}

impl Default for Settings {
    /// The framework's defaults; readers get 60 requests a minute on throttled routes,
    /// editors 600, admins no limit; cookies without `Secure` (plain HTTP on loopback).
    fn default() -> Self {
        let rate = |num, window| Rate { num, window };
        Settings {
            api_key: ApiKeyConfig::default(),
            token: TokenConfig::default(),
            basic: BasicConfig::default(),
            session: SessionConfig { cookie_secure: false, ..SessionConfig::default() },
            jwt: JwtConfig::default(),
            throttle: ThrottleConfig {
                scopes: [("role:reader".into(), rate(60, 60)), ("role:editor".into(), rate(600, 60))].into(),
                ..ThrottleConfig::default()
            },
            endpoints: EndpointsConfig { api: Some("/v1/auth".into()), login_page: None, oauth2: None },
            secret_key: std::env::var("AUTH_SECRET_KEY").ok(),
        }
    }
}

/// The migrations: the framework's tables, then the app's own.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        let mut all = auth_runtime::migrations::migrations();
        all.push(Box::new(migration::CreateMembersTables));
        all
    }
}

/// Opens the database at `url` (SQLite or PostgreSQL) and applies pending migrations.
///
/// # Errors
/// The database cannot be reached or migrated.
pub async fn connect(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let db = auth_runtime::db::connect(url, &auth_runtime::PoolConfig::default()).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// The framework, started: its state and its session middleware.
pub type AppState = auth_runtime::Framework;

/// Starts the framework on `db`: members as users, API keys revoked by the lifecycle, the
/// configuration checked and the stores connected.
///
/// # Errors
/// A message when the secret key, the settings or the session store is unusable.
pub async fn build_state(db: DatabaseConnection, settings: &Settings) -> Result<AppState, String> {
    let secret = SecretKey::load_or_create(&db, settings.secret_key.as_deref()).await.map_err(|e| e.to_string())?;
    Auth::builder(db.clone(), secret)
        .settings(settings)
        .users(MemberStore::new(db))
        .credentials(ApiKeyCredentials)
        .start()
        .await
        .map_err(|e| e.to_string())
}

/// The application: the framework mounted (its endpoints under `/v1/auth`, JSON errors,
/// sessions, the HTTP edge) with [`routes`].
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

/// `/v1/me` and `/v1/notes` (the framework's endpoints are mounted by [`app`] under the
/// settings' `endpoints` prefixes: `/v1/auth`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
        web::resource(path).default_service(not_allowed(allow))
    }
    cfg.service(resource("/v1/me", "GET").get(me))
        .service(resource("/v1/notes", "GET, POST").get(notes::list).post(notes::create))
        .service(resource("/v1/notes/{id:[0-9]+}", "GET, PUT").get(notes::get).put(notes::update));
}

/// `GET /v1/me`: `{"email", "display_name", "role", "scheme"}` for any scheme of the app.
#[authentication(ApiKey, Token, Basic, Jwt, Session)]
async fn me(principal: Principal) -> Result<HttpResponse, AuthError> {
    let user = principal.user.as_ref().ok_or_else(AuthError::permission_denied)?;
    let member = user.fields::<Member>().ok_or(AuthError::ImproperlyConfigured("the user store is not MemberStore"))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "email": user.email,
        "display_name": member.display_name,
        "role": member.role,
        "scheme": principal.scheme,
    })))
}
