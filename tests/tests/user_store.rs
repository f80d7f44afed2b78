//! Logging in by e-mail is a configuration of the user store, not a fork: every built-in
//! scheme's login and the lifecycle functions go through `UserStore`, on SQLite and
//! PostgreSQL, over real HTTP against the example app's routes.

use auth_runtime::Auth;
use auth_runtime::lifecycle::{self, LifecycleError};
use auth_runtime::lifecycle::{CreateUserError, create_user, list_users};
use auth_runtime::users::{DbUserStore, LoginField, NewUser, UserRecord, UserStore};
use serde_json::{Value, json};
use tests::{Backend, TestApp, TestDb, basic, parts, test_secret};

async fn start(backend: Backend) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    let auth = Auth::builder(db.db.clone(), test_secret())
        .settings(&example_app::Settings::default())
        .users(DbUserStore::new(db.db.clone()).login_by(LoginField::Email))
        .build()
        .expect("state");
    Some(TestApp::serve_auth(db, auth, None).await)
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let (status, _, body) = parts(app.client.post(app.url(path)).json(&body).send().await.unwrap()).await;
    (status, body)
}

async fn whoami(app: &TestApp, authorization: &str) -> (u16, Value) {
    let (status, _, body) = app.get("/api/whoami", Some(authorization)).await;
    (status, body)
}

/// Logs in through the session endpoints (CSRF first) and returns the scheme `whoami` reports.
async fn session_login(app: &TestApp, login: &str, password: &str) -> (u16, Option<String>) {
    let browser = app.browser();
    let res = app.session_login(&browser, login, password).await;
    let status = res.status().as_u16();
    if status != 200 {
        return (status, None);
    }
    let me: Value = browser.get(app.url("/api/whoami")).send().await.unwrap().json().await.unwrap();
    (status, me["scheme"].as_str().map(str::to_owned))
}

async fn email_login(backend: Backend) {
    let Some(app) = start(backend).await else { return };
    // Created through the store API: active unless said otherwise.
    let new = NewUser {
        username: "alice".into(),
        email: "Alice@Example.com".into(),
        password: "alice-pass-1".into(),
        ..NewUser::default()
    };
    let alice = create_user(&app.auth, new).await.unwrap();
    assert!(alice.is_active);
    // The e-mail is the login name, so it is unique (whatever its case).
    let twin = NewUser { username: "alice2".into(), email: "alice@example.COM".into(), ..NewUser::default() };
    assert!(matches!(create_user(&app.auth, twin).await, Err(CreateUserError::Exists)));

    // Basic: the e-mail logs in (any case), the username does not.
    assert_eq!(
        whoami(&app, &basic("alice@example.com", "alice-pass-1")).await.1,
        json!({"username": "alice", "scheme": "basic"})
    );
    assert_eq!(whoami(&app, &basic("ALICE@example.com", "alice-pass-1")).await.0, 200);
    assert_eq!(whoami(&app, &basic("alice", "alice-pass-1")).await.0, 401);
    assert_eq!(whoami(&app, &basic("alice@example.com", "wrong")).await.0, 401);

    // Token: obtained with the e-mail, then used.
    let (status, body) =
        post(&app, "/api/auth/token", json!({"username": "alice@example.com", "password": "alice-pass-1"})).await;
    assert_eq!(status, 200, "{body}");
    let token = format!("Token {}", body["token"].as_str().unwrap());
    assert_eq!(whoami(&app, &token).await, (200, json!({"username": "alice", "scheme": "token"})));
    let (status, _) = post(&app, "/api/auth/token", json!({"username": "alice", "password": "alice-pass-1"})).await;
    assert_eq!(status, 400, "the username is not the login name");

    // JWT.
    let (status, body) =
        post(&app, "/api/auth/jwt/create", json!({"username": "alice@example.com", "password": "alice-pass-1"})).await;
    assert_eq!(status, 200, "{body}");
    let jwt = format!("Bearer {}", body["access"].as_str().unwrap());
    assert_eq!(whoami(&app, &jwt).await, (200, json!({"username": "alice", "scheme": "jwt"})));

    // Session.
    assert_eq!(session_login(&app, "alice@example.com", "alice-pass-1").await, (200, Some("session".into())));
    assert_eq!(session_login(&app, "alice", "alice-pass-1").await.0, 400);

    // Lifecycle by the login name: a password change ends the token and the JWT...
    lifecycle::change_password(&app.auth, "alice@example.com", "alice-pass-2").await.unwrap();
    assert_eq!(whoami(&app, &token).await.0, 401);
    assert_eq!(whoami(&app, &jwt).await.0, 401);
    assert_eq!(whoami(&app, &basic("alice@example.com", "alice-pass-1")).await.0, 401);
    assert_eq!(whoami(&app, &basic("alice@example.com", "alice-pass-2")).await.0, 200);
    // ... deactivation refuses every scheme, activation restores...
    lifecycle::set_active(&app.auth, "alice@example.com", false).await.unwrap();
    assert_eq!(whoami(&app, &basic("alice@example.com", "alice-pass-2")).await.0, 401);
    lifecycle::set_active(&app.auth, "alice@example.com", true).await.unwrap();
    assert_eq!(whoami(&app, &basic("alice@example.com", "alice-pass-2")).await.0, 200);
    // ... and deletion removes the user from the store.
    assert_eq!(list_users(&app.auth).await.unwrap().len(), 1);
    lifecycle::delete_user(&app.auth, "alice@example.com").await.unwrap();
    assert!(list_users(&app.auth).await.unwrap().is_empty());
    assert_eq!(whoami(&app, &basic("alice@example.com", "alice-pass-2")).await.0, 401);
    assert!(matches!(
        lifecycle::delete_user(&app.auth, "alice@example.com").await,
        Err(LifecycleError::UnknownUser(_))
    ));
    app.stop().await;
}

#[actix_web::rt::test]
async fn email_login_through_every_scheme_and_the_lifecycle_sqlite() {
    email_login(Backend::Sqlite).await;
}

#[actix_web::rt::test]
async fn email_login_through_every_scheme_and_the_lifecycle_postgres() {
    email_login(Backend::Postgres).await;
}

/// Many creations of one e-mail address at once (in different cases, under different
/// usernames), straight through the store: exactly one succeeds, because the database's unique
/// index decides, not a check before the insert.
async fn concurrent_email_creation(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let store = DbUserStore::new(db.db.clone()).login_by(LoginField::Email);
    let attempts = (0..24).map(|i| {
        let store = store.clone();
        let email = if i % 2 == 0 { "Bob@Example.com" } else { "bob@example.COM" };
        let record = UserRecord {
            username: format!("bob{i}"),
            email: email.into(),
            password_hash: "argon2-not-used".into(),
            is_staff: false,
            is_active: true,
        };
        actix_web::rt::spawn(async move { store.create(record).await })
    });
    let results = futures_util::future::join_all(attempts).await;
    let created = results.iter().filter(|r| matches!(r, Ok(Ok(Some(_))))).count();
    let refused = results.iter().filter(|r| matches!(r, Ok(Ok(None)))).count();
    assert_eq!((created, refused), (1, 23), "{results:?}");
    // Users without an address are not affected by the index.
    for name in ["carol", "dave"] {
        let record = UserRecord {
            username: name.into(),
            email: String::new(),
            password_hash: "argon2-not-used".into(),
            is_staff: false,
            is_active: true,
        };
        assert!(store.create(record).await.unwrap().is_some());
    }
    assert_eq!(store.list().await.unwrap().len(), 3);
}

#[actix_web::rt::test]
async fn one_of_many_concurrent_creations_of_an_email_wins_sqlite() {
    concurrent_email_creation(Backend::Sqlite).await;
}

#[actix_web::rt::test]
async fn one_of_many_concurrent_creations_of_an_email_wins_postgres() {
    concurrent_email_creation(Backend::Postgres).await;
}
