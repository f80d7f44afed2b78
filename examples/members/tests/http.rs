//! The members example over real HTTP, on SQLite and (when `TEST_DATABASE_URL` is set)
//! PostgreSQL, each test on a fresh database.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

use actix_web::HttpServer;
use auth_runtime::lifecycle::{create_user, list_users};
use auth_runtime::throttling::Rate;
use auth_runtime::users::NewUser;
use auth_runtime::{Auth, lifecycle};
use base64::Engine;
use members_example::members::{CreateMemberError, Role, create_member};
use members_example::{Settings, api_key, app, build_state, connect};
use reqwest::Method;
use sea_orm::{ColumnTrait, ConnectionTrait, Database, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The app served on a free loopback port, on its own database.
struct Server {
    base: String,
    auth: Auth,
    client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    _dir: Option<tempfile::TempDir>,
}

/// A response: status, `WWW-Authenticate` values, `Retry-After`, JSON body (or null).
struct Resp {
    status: u16,
    challenges: Vec<String>,
    retry_after: Option<String>,
    body: Value,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A new database on the server of `TEST_DATABASE_URL`; `None` without one (a failure
/// under `CI`).
async fn fresh_postgres_database() -> Option<String> {
    let server = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(std::env::var("CI").is_err(), "CI is set but TEST_DATABASE_URL is not");
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            return None;
        }
    };
    // `authtest_` like the framework's tests: CI drops those left behind.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name = format!("authtest_members_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), nanos);
    let admin = Database::connect(&server).await.expect("connect TEST_DATABASE_URL");
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create database");
    admin.close().await.ok();
    let (base, query) = server.split_once('?').map_or((server.as_str(), None), |(b, q)| (b, Some(q)));
    let host_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[host_end..].find('/').map_or(base.len(), |i| host_end + i);
    Some(format!("{}/{name}{}", &base[..host_end], query.map(|q| format!("?{q}")).unwrap_or_default()))
}

impl Server {
    async fn start(backend: Backend, settings: Settings) -> Option<Server> {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                (format!("sqlite://{}?mode=rwc", dir.path().join("members.sqlite3").display()), Some(dir))
            }
            Backend::Postgres => (fresh_postgres_database().await?, None),
        };
        let db = connect(&url).await.expect("connect and migrate");
        let state = build_state(db, &settings).await.expect("state");
        let auth = state.auth.clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = HttpServer::new(move || app(state.clone()))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Some(Server { base, auth, client: reqwest::Client::new(), handle, _dir: dir })
    }

    async fn call(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Resp {
        self.send(&self.client, method, path, headers, body).await
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Resp {
        let mut req = client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("send");
        let status = res.status().as_u16();
        let challenges =
            res.headers().get_all("www-authenticate").iter().map(|v| v.to_str().expect("ascii").to_owned()).collect();
        let retry_after = res.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
        let text = res.text().await.expect("body");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON body") };
        Resp { status, challenges, retry_after, body }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.call(Method::GET, path, headers, None).await
    }

    /// Creates a member; returns its id.
    async fn member(&self, email: &str, role: Role, password: &str) -> i64 {
        let name = email.split('@').next().unwrap();
        create_member(&self.auth, email, name, role, password).await.expect("create member").id
    }

    /// A token from `POST /v1/auth/token`.
    async fn token(&self, login: &str, password: &str) -> String {
        let r = self
            .call(Method::POST, "/v1/auth/token", &[], Some(json!({"username": login, "password": password})))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        format!("Token {}", r.body["token"].as_str().unwrap())
    }

    /// A note of the member with this API key, through `POST /v1/notes`; returns its path.
    async fn note(&self, key: &str, body: &str) -> String {
        let r = self.call(Method::POST, "/v1/notes", &[("X-Api-Key", key)], Some(json!({"body": body}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        format!("/v1/notes/{}", r.body["id"])
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }
}

fn basic(login: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}")))
}

const API_KEY_CHALLENGE: &str = "ApiKey realm=\"members\"";

/// Runs an async test body on SQLite and on PostgreSQL.
macro_rules! both_backends {
    ($body:ident, $sqlite:ident, $postgres:ident) => {
        #[actix_web::rt::test]
        async fn $sqlite() {
            $body(Backend::Sqlite).await;
        }

        #[actix_web::rt::test]
        async fn $postgres() {
            $body(Backend::Postgres).await;
        }
    };
}

async fn email_login(backend: Backend) {
    let Some(app) = Server::start(backend, Settings::default()).await else { return };
    create_member(&app.auth, "Alice@Example.com", "Alice", Role::Editor, "alice-pass-1").await.unwrap();
    let twin = create_member(&app.auth, "alice@EXAMPLE.com", "Twin", Role::Reader, "other-pass").await;
    assert!(matches!(twin, Err(CreateMemberError::Exists)), "e-mails are unique whatever their case");

    // Basic: the e-mail in any case; /v1/me shows the member's own fields.
    let r = app.get("/v1/me", &[("Authorization", &basic("ALICE@example.com", "alice-pass-1"))]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"email": "alice@example.com", "display_name": "Alice", "role": "editor", "scheme": "basic"})
    );
    assert_eq!(app.get("/v1/me", &[("Authorization", &basic("alice@example.com", "wrong"))]).await.status, 401);

    // Token obtain under /v1/auth, with the e-mail.
    let token = app.token("alice@EXAMPLE.com", "alice-pass-1").await;
    let r = app.get("/v1/me", &[("Authorization", &token)]).await;
    assert_eq!((r.status, r.body["scheme"].as_str(), r.body["role"].as_str()), (200, Some("token"), Some("editor")));
    let r = app
        .call(Method::POST, "/v1/auth/token", &[], Some(json!({"username": "alice@example.com", "password": "x"})))
        .await;
    assert_eq!((r.status, r.body["code"].as_str()), (400, Some("invalid_credentials")));
    // Nothing at the framework's default paths.
    let r = app
        .call(Method::POST, "/api/auth/token", &[], Some(json!({"username": "alice@example.com", "password": "x"})))
        .await;
    assert_eq!(r.status, 404);

    // JWT under /v1/auth.
    let r = app
        .call(
            Method::POST,
            "/v1/auth/jwt/create",
            &[],
            Some(json!({"username": "alice@example.com", "password": "alice-pass-1"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let jwt = format!("Bearer {}", r.body["access"].as_str().unwrap());
    assert_eq!(app.get("/v1/me", &[("Authorization", &jwt)]).await.body["scheme"], "jwt");
    app.stop().await;
}
both_backends!(
    email_login,
    email_login_basic_token_and_jwt_under_v1_auth_sqlite,
    email_login_basic_token_and_jwt_under_v1_auth_postgres
);

async fn session_login(backend: Backend) {
    let Some(app) = Server::start(backend, Settings::default()).await else { return };
    app.member("carol@example.com", Role::Admin, "carol-pass-1").await;
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let r = app.send(&browser, Method::GET, "/v1/auth/csrf", &[], None).await;
    let csrf = r.body["csrf_token"].as_str().expect("csrf token").to_owned();
    let login = json!({"username": "Carol@example.com", "password": "carol-pass-1"});
    let r = app.send(&browser, Method::POST, "/v1/auth/login", &[("X-CSRFToken", &csrf)], Some(login)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.send(&browser, Method::GET, "/v1/me", &[], None).await;
    assert_eq!((r.body["scheme"].as_str(), r.body["role"].as_str()), (Some("session"), Some("admin")));
    // Logout needs the (new) CSRF token, read from the cookie jar's value via /csrf.
    let csrf = app.send(&browser, Method::GET, "/v1/auth/csrf", &[], None).await.body["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.send(&browser, Method::POST, "/v1/auth/logout", &[("X-CSRFToken", &csrf)], None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.send(&browser, Method::GET, "/v1/me", &[], None).await.status, 401);
    app.stop().await;
}
both_backends!(
    session_login,
    session_login_and_logout_under_v1_auth_sqlite,
    session_login_and_logout_under_v1_auth_postgres
);

async fn api_key_scheme(backend: Backend) {
    let Some(app) = Server::start(backend, Settings::default()).await else { return };
    let alice = app.member("alice@example.com", Role::Reader, "alice-pass-1").await;
    let key = api_key::create_api_key(&app.auth, alice).await.unwrap();
    let token =
        format!("Token {}", auth_runtime::schemes::token::create_token(app.auth.db(), alice, None).await.unwrap().key);
    let wrong = format!("{}0", &key[..key.len() - 1]);
    let wrong = if wrong == key { format!("{}1", &key[..key.len() - 1]) } else { wrong };

    // Success: /v1/me and the settings' default chain (POST /v1/notes).
    let r = app.get("/v1/me", &[("X-Api-Key", &key)]).await;
    assert_eq!((r.status, r.body["scheme"].as_str(), r.body["role"].as_str()), (200, Some("api_key"), Some("reader")));
    let note = app.note(&key, "hello").await;

    // Anonymous: 401 with both challenges, in each chain's order.
    let r = app.get(&note, &[]).await;
    assert_eq!((r.status, r.body["code"].as_str()), (401, Some("not_authenticated")));
    assert_eq!(r.challenges, ["Token", API_KEY_CHALLENGE]);
    let r = app.get("/v1/notes", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenges, [API_KEY_CHALLENGE, "Token"]);

    // A wrong key: rejected (not anonymous), both challenges.
    let r = app.get(&note, &[("X-Api-Key", &wrong)]).await;
    assert_eq!((r.status, r.body["code"].as_str()), (401, Some("authentication_failed")));
    assert_eq!(r.body["detail"], "Invalid API key.");
    assert_eq!(r.challenges, ["Token", API_KEY_CHALLENGE]);
    assert_eq!(app.get(&note, &[("X-Api-Key", &key)]).await.status, 200);

    // Chain order: `#[authentication(Token, ApiKey)]` takes the token before seeing the bad
    // key; /v1/me (ApiKey first) stops at the bad key.
    let both: [(&str, &str); 2] = [("Authorization", &token), ("X-Api-Key", &wrong)];
    assert_eq!(app.get(&note, &both).await.status, 200);
    let r = app.get("/v1/me", &both).await;
    assert_eq!((r.status, r.body["code"].as_str()), (401, Some("authentication_failed")));
    let r = app.get("/v1/me", &[("Authorization", &token), ("X-Api-Key", &key)]).await;
    assert_eq!(r.body["scheme"], "api_key");
    app.stop().await;
}
both_backends!(
    api_key_scheme,
    api_key_success_rejection_and_chain_order_sqlite,
    api_key_success_rejection_and_chain_order_postgres
);

async fn owner_only(backend: Backend) {
    let Some(app) = Server::start(backend, Settings::default()).await else { return };
    let alice = app.member("alice@example.com", Role::Reader, "alice-pass-1").await;
    let bob = app.member("bob@example.com", Role::Admin, "bob-pass-1").await;
    let alice_key = api_key::create_api_key(&app.auth, alice).await.unwrap();
    let bob_key = api_key::create_api_key(&app.auth, bob).await.unwrap();
    let bob_token = app.token("bob@example.com", "bob-pass-1").await;
    let note = app.note(&alice_key, "first").await;
    let put = |body: &str| Some(json!({"body": body}));

    let r = app.call(Method::PUT, &note, &[("X-Api-Key", &alice_key)], put("second")).await;
    assert_eq!((r.status, r.body["body"].as_str()), (200, Some("second")), "the owner");
    for other in [("X-Api-Key", bob_key.as_str()), ("Authorization", bob_token.as_str())] {
        let r = app.call(Method::PUT, &note, &[other], put("bob was here")).await;
        assert_eq!((r.status, r.body["code"].as_str()), (403, Some("permission_denied")), "another member, even admin");
    }
    let r = app.call(Method::PUT, &note, &[], put("anonymous")).await;
    assert_eq!((r.status, r.challenges.len()), (401, 2));
    // Reading is open to every member; the note is unchanged.
    let r = app.get(&note, &[("X-Api-Key", &bob_key)]).await;
    assert_eq!((r.status, r.body["body"].as_str(), r.body["owner_id"].as_i64()), (200, Some("second"), Some(alice)));
    let r = app.call(Method::PUT, "/v1/notes/999999", &[("X-Api-Key", &alice_key)], put("x")).await;
    assert_eq!(r.status, 404);
    app.stop().await;
}
both_backends!(
    owner_only,
    owner_may_put_others_403_anonymous_401_sqlite,
    owner_may_put_others_403_anonymous_401_postgres
);

async fn per_role_throttle(backend: Backend) {
    let mut settings = Settings::default();
    settings.throttle.scopes =
        [("role:reader".into(), Rate { num: 2, window: 60 }), ("role:editor".into(), Rate { num: 3, window: 60 })]
            .into();
    let Some(app) = Server::start(backend, settings).await else { return };
    let mut keys = Vec::new();
    for (email, role) in
        [("r@example.com", Role::Reader), ("e@example.com", Role::Editor), ("a@example.com", Role::Admin)]
    {
        let id = app.member(email, role, "some-pass-1").await;
        keys.push(api_key::create_api_key(&app.auth, id).await.unwrap());
    }
    for (key, limit) in [(&keys[0], 2), (&keys[1], 3)] {
        for i in 0..limit {
            assert_eq!(app.get("/v1/notes", &[("X-Api-Key", key)]).await.status, 200, "request {i}");
        }
        let r = app.get("/v1/notes", &[("X-Api-Key", key)]).await;
        assert_eq!((r.status, r.body["code"].as_str()), (429, Some("throttled")));
        let wait: u64 = r.retry_after.expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        // Only the throttled route counts.
        assert_eq!(app.get("/v1/me", &[("X-Api-Key", key)]).await.status, 200);
    }
    // Admins have no rate.
    for _ in 0..5 {
        assert_eq!(app.get("/v1/notes", &[("X-Api-Key", &keys[2])]).await.status, 200);
    }
    app.stop().await;
}
both_backends!(
    per_role_throttle,
    per_role_throttle_answers_429_with_retry_after_sqlite,
    per_role_throttle_answers_429_with_retry_after_postgres
);

async fn lifecycle_revokes(backend: Backend) {
    let Some(app) = Server::start(backend, Settings::default()).await else { return };
    let alice = app.member("alice@example.com", Role::Editor, "alice-pass-1").await;
    let bob = app.member("bob@example.com", Role::Reader, "bob-pass-1").await;
    let key = api_key::create_api_key(&app.auth, alice).await.unwrap();
    let bob_key = api_key::create_api_key(&app.auth, bob).await.unwrap();
    let token = app.token("alice@example.com", "alice-pass-1").await;
    assert_eq!(app.get("/v1/me", &[("X-Api-Key", &key)]).await.status, 200);
    assert_eq!(app.get("/v1/me", &[("Authorization", &token)]).await.status, 200);

    lifecycle::change_password(&app.auth, "ALICE@example.com", "alice-pass-2").await.unwrap();
    assert_eq!(app.get("/v1/me", &[("X-Api-Key", &key)]).await.status, 401, "the API key is revoked");
    assert_eq!(app.get("/v1/me", &[("Authorization", &token)]).await.status, 401, "the token is revoked");
    use api_key::entity::{Column, Entity};
    let left = Entity::find().filter(Column::MemberId.eq(alice)).count(app.auth.db()).await.unwrap();
    assert_eq!(left, 0);
    assert_eq!(app.get("/v1/me", &[("Authorization", &basic("alice@example.com", "alice-pass-1"))]).await.status, 401);
    assert_eq!(app.get("/v1/me", &[("Authorization", &basic("alice@example.com", "alice-pass-2"))]).await.status, 200);
    // Another member's key is untouched; deleting that member ends it.
    assert_eq!(app.get("/v1/me", &[("X-Api-Key", &bob_key)]).await.status, 200);
    lifecycle::delete_user(&app.auth, "bob@example.com").await.unwrap();
    assert_eq!(app.get("/v1/me", &[("X-Api-Key", &bob_key)]).await.status, 401);

    // The framework's own `create_user` goes through MemberStore too (staff: admin).
    let new = NewUser {
        username: "Frank@example.com".into(),
        password: "frank-pass-1".into(),
        is_staff: true,
        ..NewUser::default()
    };
    create_user(&app.auth, new).await.unwrap();
    let r = app.get("/v1/me", &[("Authorization", &basic("frank@example.com", "frank-pass-1"))]).await;
    assert_eq!(
        (r.status, r.body["role"].as_str(), r.body["display_name"].as_str()),
        (200, Some("admin"), Some("frank"))
    );
    let emails: Vec<String> = list_users(&app.auth).await.unwrap().into_iter().map(|u| u.email).collect();
    assert_eq!(emails, ["alice@example.com", "frank@example.com"]);
    app.stop().await;
}
both_backends!(
    lifecycle_revokes,
    change_password_revokes_api_keys_and_tokens_sqlite,
    change_password_revokes_api_keys_and_tokens_postgres
);

/// The CLI of the README: `create-member` (password on stdin) and `create-api-key` (the key
/// on stdout), then the key works against a server on the same database.
#[actix_web::rt::test]
async fn cli_creates_member_and_api_key_sqlite() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("members.sqlite3").display());
    let bin = env!("CARGO_BIN_EXE_members-example");
    let mut child = Command::new(bin)
        .args(["--database-url", &url, "create-member", "Erin@Example.com", "--role", "admin", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"erin-pass-1\n").unwrap();
    assert!(child.wait().unwrap().success());
    let out = Command::new(bin).args(["--database-url", &url, "create-api-key", "erin@example.com"]).output().unwrap();
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("mk_") && key.len() == 67, "{key}");
    let unknown = Command::new(bin).args(["--database-url", &url, "create-api-key", "nobody@example.com"]).output();
    assert!(!unknown.unwrap().status.success());

    let db = connect(&url).await.unwrap();
    let state = build_state(db, &Settings::default()).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server =
        HttpServer::new(move || app(state.clone())).workers(1).disable_signals().listen(listener).unwrap().run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let me: Value = reqwest::Client::new()
        .get(format!("{base}/v1/me"))
        .header("X-Api-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me, json!({"email": "erin@example.com", "display_name": "Erin", "role": "admin", "scheme": "api_key"}));
    handle.stop(true).await;
}
