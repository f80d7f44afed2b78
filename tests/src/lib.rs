//! Shared helpers of the integration tests: a fresh database per test (SQLite file, or a new
//! PostgreSQL database when `TEST_DATABASE_URL` is set), the example app served over real
//! HTTP on a free loopback port, and a `reqwest` client.

pub mod proxy;

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

use actix_web::HttpServer;
use auth_runtime::lifecycle::create_user;
use auth_runtime::users::NewUser;
use auth_runtime::{Auth, SecretKey, User};
use example_app::Settings;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// The challenges of the example app's default chain (`Session, Basic, Token, Jwt`), in
/// order: Session has none.
pub const DEFAULT_CHALLENGES: [&str; 3] = ["Basic realm=\"api\", charset=\"UTF-8\"", "Token", "Bearer realm=\"api\""];

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A new SQLite file in a temporary directory.
    Sqlite,
    /// A new database on the server of `TEST_DATABASE_URL`.
    Postgres,
}

/// A fresh, migrated database. The SQLite file lives as long as this value.
pub struct TestDb {
    /// Connection URL.
    pub url: String,
    /// Connection (migrated).
    pub db: DatabaseConnection,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The PostgreSQL server URL for tests, or `None` (the PostgreSQL variant then is skipped,
/// except under CI, where a missing `TEST_DATABASE_URL` fails the test).
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI is set but TEST_DATABASE_URL is not: PostgreSQL tests would not run"
            );
            None
        }
    }
}

/// The Redis URL for tests (`TEST_REDIS_URL`), or `None` (the Redis test then is skipped,
/// except under CI, where a missing `TEST_REDIS_URL` fails the test).
pub fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(std::env::var("CI").is_err(), "CI is set but TEST_REDIS_URL is not");
            None
        }
    }
}

impl TestDb {
    /// A new empty database on `backend`, migrated with the example app's migrations.
    /// `None` when the backend is PostgreSQL and no server is configured.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.sqlite3").display());
                (url, Some(dir))
            }
            Backend::Postgres => (fresh_postgres_database().await?, None),
        };
        let db = example_app::connect(&url).await.expect("connect and migrate");
        Some(TestDb { url, db, _dir: dir })
    }

    /// Another pool on the database of `url` (a second app instance sharing it).
    pub async fn another_pool(url: &str) -> TestDb {
        let db = example_app::connect(url).await.expect("connect");
        TestDb { url: url.to_owned(), db, _dir: None }
    }
}

/// Creates a new, empty (unmigrated) database on the server of `TEST_DATABASE_URL` and
/// returns its URL; `None` when no server is configured.
pub async fn fresh_postgres_database() -> Option<String> {
    let server = postgres_url()?;
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let admin = Database::connect(&server).await.expect("connect TEST_DATABASE_URL");
    let name = format!("authtest_{}_{}_{}", std::process::id(), n, rand_suffix());
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create database");
    admin.close().await.ok();
    Some(replace_db_name(&server, &name))
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64 % 1_000_000)
}

/// Replaces the database name (the path) of a `postgres://` URL, keeping the query.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..host_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Starts an HTTP server of `factory` on `listener` (one worker, no signal handling) in the
/// background; evaluates to its handle.
macro_rules! start_server {
    ($listener:expr, $factory:expr) => {{
        let server = HttpServer::new($factory).workers(1).disable_signals().listen($listener).expect("listen").run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        handle
    }};
}

/// The example app, served over real HTTP on a free loopback port.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The framework state the server uses.
    pub auth: Auth,
    /// The database.
    pub db: TestDb,
    /// A client without cookies.
    pub client: reqwest::Client,
    server: actix_web::dev::ServerHandle,
}

impl TestApp {
    /// Starts the example app with default settings on `backend`.
    pub async fn start(backend: Backend) -> Option<TestApp> {
        Self::with_settings(backend, Settings::default()).await
    }

    /// Starts the example app with `settings` on `backend`.
    pub async fn with_settings(backend: Backend, settings: Settings) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let state = example_app::build_state(db.db.clone(), &settings).await.expect("state");
        Some(Self::serve(db, state, None))
    }

    /// Serves `routes` (or the example app) with a state built around `auth` (for tests that
    /// configure the framework themselves).
    pub async fn serve_auth(db: TestDb, auth: Auth, routes: Option<fn(&mut actix_web::web::ServiceConfig)>) -> TestApp {
        let sessions = auth_runtime::schemes::session::store::Sessions::new(&auth).await.expect("sessions");
        Self::serve(db, example_app::AppState { auth, sessions }, routes)
    }

    /// Serves an app made of `routes` (see [`TestApp::serve`]) on a fresh database of
    /// `backend`, with the state the example app builds from `settings`.
    pub async fn with_routes(
        backend: Backend,
        settings: Settings,
        routes: fn(&mut actix_web::web::ServiceConfig),
    ) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let state = example_app::build_state(db.db.clone(), &settings).await.expect("state");
        Some(Self::serve(db, state, Some(routes)))
    }

    /// Sends `method path` with an optional `Authorization` value and an optional JSON body;
    /// returns status, challenges and JSON body (see [`parts`]).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, Vec<String>, serde_json::Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        parts(req.send().await.expect("send")).await
    }

    /// `GET path` with an optional `Authorization` value; see [`TestApp::call`].
    pub async fn get(&self, path: &str, authorization: Option<&str>) -> (u16, Vec<String>, serde_json::Value) {
        self.call(reqwest::Method::GET, path, authorization, None).await
    }

    /// Serves the example app (`routes == None`) or an app made of `routes` with the same
    /// state and error handling (tests of macros and permissions bring their own handlers).
    pub fn serve(
        db: TestDb,
        state: example_app::AppState,
        routes: Option<fn(&mut actix_web::web::ServiceConfig)>,
    ) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let auth = state.auth.clone();
        let handle = match routes {
            None => start_server!(listener, move || example_app::app(state.clone())),
            Some(routes) => start_server!(listener, move || {
                actix_web::App::new()
                    .app_data(state.auth.clone())
                    .app_data(auth_runtime::http::json_config(auth_runtime::http::DEFAULT_BODY_LIMIT))
                    .app_data(auth_runtime::http::path_config())
                    .configure(routes)
                    .default_service(actix_web::web::to(auth_runtime::http::not_found))
                    .wrap(state.sessions.clone())
                    .wrap(auth_runtime::http::json_errors())
            }),
        };
        TestApp { base, auth, db, client: reqwest::Client::new(), server: handle }
    }

    /// Serves the framework mounted with `auth_runtime::mount::app` (its endpoints, sessions,
    /// JSON errors, the HTTP edge) and `routes`, as an app of one's own does, with the state
    /// the example app builds from `settings`, on a fresh database of `backend`.
    pub async fn mounted(
        backend: Backend,
        settings: Settings,
        routes: fn(&mut actix_web::web::ServiceConfig),
    ) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let state = example_app::build_state(db.db.clone(), &settings).await.expect("state");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let auth = state.auth.clone();
        let handle = start_server!(listener, move || auth_runtime::mount::app(&state, routes));
        Some(TestApp { base, auth, db, client: reqwest::Client::new(), server: handle })
    }

    /// A client that keeps cookies, as a browser does.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder().cookie_store(true).build().expect("client")
    }

    /// Logs in through the session endpoints as a browser does: `GET /api/auth/csrf`, then
    /// `POST /api/auth/login` with its token in `X-CSRFToken`; the cookies stay in
    /// `browser` (see [`TestApp::browser`]). Returns the login's response.
    pub async fn session_login(&self, browser: &reqwest::Client, username: &str, password: &str) -> reqwest::Response {
        let csrf: serde_json::Value =
            browser.get(self.url("/api/auth/csrf")).send().await.expect("csrf").json().await.expect("json");
        let csrf = csrf["csrf_token"].as_str().expect("csrf_token").to_owned();
        browser
            .post(self.url("/api/auth/login"))
            .header("X-CSRFToken", &csrf)
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login")
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates an active user with `password`; `staff` sets `is_staff`.
    pub async fn user(&self, username: &str, password: &str, staff: bool) -> User {
        create_user(
            &self.auth,
            NewUser {
                username: username.into(),
                email: String::new(),
                password: password.into(),
                is_staff: staff,
                is_active: true,
            },
        )
        .await
        .expect("create user")
    }

    /// Obtains an API token through `POST /api/auth/token`.
    pub async fn token(&self, username: &str, password: &str) -> String {
        let res = self
            .client
            .post(self.url("/api/auth/token"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 200, "obtaining a token");
        let body: serde_json::Value = res.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Creates an API token for `user` directly in the store (for apps of our own handlers,
    /// which have no token endpoint); returns its key.
    pub async fn token_for(&self, user: &User) -> String {
        auth_runtime::schemes::token::create_token(self.auth.db(), user.id, None).await.expect("create token").key
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop(false).await;
    }
}

/// A fixed 64-byte secret for tests that build their own state.
pub fn test_secret() -> SecretKey {
    SecretKey::new(vec![7u8; 64]).expect("secret")
}

/// The response's status, `WWW-Authenticate` values and JSON body.
pub async fn parts(res: reqwest::Response) -> (u16, Vec<String>, serde_json::Value) {
    let status = res.status().as_u16();
    let challenges =
        res.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap_or("").to_owned()).collect();
    let text = res.text().await.expect("body");
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
    };
    (status, challenges, body)
}

/// `Authorization: Basic base64(user:pass)`.
pub fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

/// Generates one test per backend: `NAME::sqlite` and `NAME::postgres` (the latter is
/// skipped without `TEST_DATABASE_URL`, and fails under CI without it). The body receives a
/// started [`TestApp`] with default settings, or use [`db_test!`] with `settings = EXPR`;
/// with `routes = FN` (and optionally `settings = EXPR` before it) the app is made of your
/// own handlers (see [`TestApp::serve`]).
#[macro_export]
macro_rules! db_test {
    ($(#[$attr:meta])* $name:ident, |$app:ident| $body:block) => {
        $crate::db_test!($(#[$attr])* $name, settings = ::example_app::Settings::default(), |$app| $body);
    };
    ($(#[$attr:meta])* $name:ident, routes = $routes:expr, |$app:ident| $body:block) => {
        $crate::db_test!($(#[$attr])* $name, settings = ::example_app::Settings::default(), routes = $routes, |$app| $body);
    };
    ($(#[$attr:meta])* $name:ident, settings = $settings:expr, routes = $routes:expr, |$app:ident| $body:block) => {
        $crate::db_test!(@tests $(#[$attr])* $name, |backend| $crate::TestApp::with_routes(backend, $settings, $routes), |$app| $body);
    };
    ($(#[$attr:meta])* $name:ident, settings = $settings:expr, |$app:ident| $body:block) => {
        $crate::db_test!(@tests $(#[$attr])* $name, |backend| $crate::TestApp::with_settings(backend, $settings), |$app| $body);
    };
    (@tests $(#[$attr:meta])* $name:ident, |$backend:ident| $start:expr, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($backend: $crate::Backend) {
                let Some($app) = $start.await else {
                    eprintln!("skipped: TEST_DATABASE_URL is not set");
                    return;
                };
                $body
            }
            #[actix_web::rt::test]
            $(#[$attr])*
            async fn sqlite() {
                run($crate::Backend::Sqlite).await;
            }
            #[actix_web::rt::test]
            $(#[$attr])*
            async fn postgres() {
                run($crate::Backend::Postgres).await;
            }
        }
    };
}
