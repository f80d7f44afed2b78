//! The principal cache never serves a revoked credential: for every revocation path, a
//! credential is used (warming the cache), revoked, and the very next request on the same
//! instance is refused; across two instances sharing PostgreSQL (and Redis), the other
//! instance refuses it within the propagation bound although its TTL is a minute. Also: a
//! database fault is still 503 for credentials not in the cache, and the opt-in Basic
//! credential cache ends with a password change.

use std::time::{Duration, Instant};

use auth_runtime::CacheConfig;
use auth_runtime::lifecycle;
use auth_runtime::schemes::oauth2::{self, GrantType, NewApplication, create_application};
use example_app::Settings;
use serde_json::{Value, json};
use tests::{Backend, TestApp, TestDb, basic, db_test};

const PASSWORD: &str = "correct horse battery";

/// Uses `authorization` on `path` until it is served (twice, so the second comes from the
/// cache), asserting 200.
async fn warm(app: &TestApp, path: &str, authorization: &str) {
    for _ in 0..2 {
        let (status, _, body) = app.get(path, Some(authorization)).await;
        assert_eq!(status, 200, "{path} with a valid credential: {body}");
    }
}

async fn refused(app: &TestApp, path: &str, authorization: &str, why: &str) {
    let (status, _, body) = app.get(path, Some(authorization)).await;
    assert_eq!(status, 401, "{why}: {path} must be refused at once, got {body}");
}

async fn jwt_access(app: &TestApp, username: &str) -> String {
    let (status, _, body) = app
        .call(
            reqwest::Method::POST,
            "/api/auth/jwt/create",
            None,
            Some(json!({"username": username, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    format!("Bearer {}", body["access"].as_str().unwrap())
}

/// A logged-in browser (cookie store): GET the CSRF token, then log in.
async fn session_browser(app: &TestApp, username: &str) -> reqwest::Client {
    let browser = app.browser();
    let csrf: Value = browser.get(app.url("/api/auth/csrf")).send().await.unwrap().json().await.unwrap();
    let res = browser
        .post(app.url("/api/auth/login"))
        .header("X-CSRFToken", csrf["csrf_token"].as_str().unwrap())
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login");
    for _ in 0..2 {
        let res = browser.get(app.url("/api/session/whoami")).send().await.unwrap();
        assert_eq!(res.status(), 200, "session whoami after login");
    }
    browser
}

async fn session_status(app: &TestApp, browser: &reqwest::Client) -> u16 {
    browser.get(app.url("/api/session/whoami")).send().await.unwrap().status().as_u16()
}

/// An OAuth2 access token of `user_id` issued through a grant of a new client.
async fn oauth2_access(app: &TestApp, user_id: Option<i64>) -> (String, String) {
    let created = create_application(
        &app.auth,
        NewApplication {
            name: "cache test".into(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
            redirect_uris: vec!["https://client.example/cb".into()],
            public: false,
            scopes: vec![],
            owner_id: None,
        },
    )
    .await
    .expect("client");
    let scope = vec!["read".to_owned()];
    let kind = if user_id.is_some() { GrantType::AuthorizationCode } else { GrantType::ClientCredentials };
    let grant = oauth2::create_grant(app.auth.db(), &created.record, user_id, kind, &scope).await.expect("grant");
    let issued = oauth2::issue_tokens(&app.auth, &grant, scope.clone(), Some(&scope)).await.expect("tokens");
    (format!("Bearer {}", issued.access_token), issued.refresh_token.unwrap_or_default())
}

db_test!(token_delete_and_delete_all_are_seen_at_once, |app| {
    app.user("alice", PASSWORD, false).await;
    let one = format!("Token {}", app.token("alice", PASSWORD).await);
    let two = format!("Token {}", app.token("alice", PASSWORD).await);
    warm(&app, "/api/token/whoami", &one).await;
    warm(&app, "/api/token/whoami", &two).await;
    let (status, _, _) = app.call(reqwest::Method::DELETE, "/api/auth/token", Some(&one), None).await;
    assert_eq!(status, 204);
    refused(&app, "/api/token/whoami", &one, "a deleted token").await;
    warm(&app, "/api/token/whoami", &two).await;
    let (status, _, _) = app.call(reqwest::Method::DELETE, "/api/auth/tokens", Some(&two), None).await;
    assert_eq!(status, 204);
    refused(&app, "/api/token/whoami", &two, "after delete-all").await;
});

db_test!(password_change_ends_every_cached_credential, |app| {
    let user = app.user("bob", PASSWORD, false).await;
    let token = format!("Token {}", app.token("bob", PASSWORD).await);
    let jwt = jwt_access(&app, "bob").await;
    let (oauth, _) = oauth2_access(&app, Some(user.id)).await;
    let browser = session_browser(&app, "bob").await;
    warm(&app, "/api/token/whoami", &token).await;
    warm(&app, "/api/jwt/whoami", &jwt).await;
    warm(&app, "/api/oauth2/whoami", &oauth).await;
    lifecycle::change_password(&app.auth, "bob", "another good password").await.unwrap();
    refused(&app, "/api/token/whoami", &token, "token after a password change").await;
    refused(&app, "/api/jwt/whoami", &jwt, "JWT after a password change").await;
    refused(&app, "/api/oauth2/whoami", &oauth, "OAuth2 token after a password change").await;
    assert_ne!(session_status(&app, &browser).await, 200, "session after a password change");
});

db_test!(deactivation_and_deletion_end_cached_principals, |app| {
    app.user("carol", PASSWORD, false).await;
    let token = format!("Token {}", app.token("carol", PASSWORD).await);
    let jwt = jwt_access(&app, "carol").await;
    let browser = session_browser(&app, "carol").await;
    warm(&app, "/api/token/whoami", &token).await;
    warm(&app, "/api/jwt/whoami", &jwt).await;
    lifecycle::set_active(&app.auth, "carol", false).await.unwrap();
    refused(&app, "/api/token/whoami", &token, "token of a deactivated user").await;
    refused(&app, "/api/jwt/whoami", &jwt, "JWT of a deactivated user").await;
    assert_ne!(session_status(&app, &browser).await, 200, "session of a deactivated user");

    let user = app.user("dave", PASSWORD, false).await;
    let token = format!("Token {}", app.token("dave", PASSWORD).await);
    let jwt = jwt_access(&app, "dave").await;
    let (oauth, _) = oauth2_access(&app, Some(user.id)).await;
    warm(&app, "/api/token/whoami", &token).await;
    warm(&app, "/api/jwt/whoami", &jwt).await;
    warm(&app, "/api/oauth2/whoami", &oauth).await;
    lifecycle::delete_user(&app.auth, "dave").await.unwrap();
    refused(&app, "/api/token/whoami", &token, "token of a deleted user").await;
    refused(&app, "/api/jwt/whoami", &jwt, "JWT of a deleted user").await;
    refused(&app, "/api/oauth2/whoami", &oauth, "OAuth2 token of a deleted user").await;
});

db_test!(logout_and_ending_sessions_are_seen_at_once, |app| {
    let user = app.user("erin", PASSWORD, false).await;
    let browser = session_browser(&app, "erin").await;
    // Logout needs the CSRF token of the session.
    let csrf: Value = browser.get(app.url("/api/auth/csrf")).send().await.unwrap().json().await.unwrap();
    let res = browser
        .post(app.url("/api/auth/logout"))
        .header("X-CSRFToken", csrf["csrf_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "logout");
    assert_ne!(session_status(&app, &browser).await, 200, "after logout");

    let browser = session_browser(&app, "erin").await;
    auth_runtime::schemes::session::end_user_sessions(&app.auth, user.id).await.unwrap();
    assert_ne!(session_status(&app, &browser).await, 200, "after the user's sessions were ended");
});

db_test!(jwt_revoke_all_is_seen_at_once, |app| {
    let user = app.user("fred", PASSWORD, false).await;
    let jwt = jwt_access(&app, "fred").await;
    warm(&app, "/api/jwt/whoami", &jwt).await;
    auth_runtime::schemes::jwt::revoke_user(&app.auth, user.id).await.unwrap();
    refused(&app, "/api/jwt/whoami", &jwt, "JWT after revoke-all").await;
});

db_test!(oauth2_revocation_of_token_and_grant_is_seen_at_once, |app| {
    let user = app.user("gina", PASSWORD, false).await;
    let (access, refresh) = oauth2_access(&app, Some(user.id)).await;
    warm(&app, "/api/oauth2/whoami", &access).await;
    let record = oauth2::find_access_token(app.auth.db(), access.trim_start_matches("Bearer ")).await.unwrap().unwrap();
    oauth2::revoke_access_token(&app.auth, record.id).await.unwrap();
    refused(&app, "/api/oauth2/whoami", &access, "a revoked access token").await;

    let (access, _) = oauth2_access(&app, Some(user.id)).await;
    warm(&app, "/api/oauth2/whoami", &access).await;
    let r = oauth2::find_refresh_token(app.auth.db(), &refresh).await.unwrap().unwrap();
    let record = oauth2::find_access_token(app.auth.db(), access.trim_start_matches("Bearer ")).await.unwrap().unwrap();
    oauth2::revoke_grant(&app.auth, record.grant_id).await.unwrap();
    refused(&app, "/api/oauth2/whoami", &access, "a token of a revoked grant").await;
    assert_ne!(r.grant_id, record.grant_id, "two grants");

    // A client-credentials token (no user) ends with its grant too.
    let (access, _) = oauth2_access(&app, None).await;
    warm(&app, "/api/oauth2/whoami", &access).await;
    let record = oauth2::find_access_token(app.auth.db(), access.trim_start_matches("Bearer ")).await.unwrap().unwrap();
    oauth2::revoke_grant(&app.auth, record.grant_id).await.unwrap();
    refused(&app, "/api/oauth2/whoami", &access, "a client-credentials token of a revoked grant").await;
});

fn basic_cache_settings() -> Settings {
    Settings { cache: CacheConfig { basic_ttl: 60, ..CacheConfig::default() }, ..Settings::default() }
}

db_test!(basic_credential_cache_ends_with_password_change_and_deactivation, settings = basic_cache_settings(), |app| {
    app.user("hank", PASSWORD, false).await;
    let creds = basic("hank", PASSWORD);
    warm(&app, "/api/basic/whoami", &creds).await;
    // A wrong password is never served from the cache.
    refused(&app, "/api/basic/whoami", &basic("hank", "wrong password"), "a wrong password").await;
    lifecycle::change_password(&app.auth, "hank", "a brand new password").await.unwrap();
    refused(&app, "/api/basic/whoami", &creds, "the old password after a change").await;
    let creds = basic("hank", "a brand new password");
    warm(&app, "/api/basic/whoami", &creds).await;
    lifecycle::set_active(&app.auth, "hank", false).await.unwrap();
    refused(&app, "/api/basic/whoami", &creds, "Basic of a deactivated user").await;
});

db_test!(database_fault_is_503_for_uncached_credentials_even_with_a_warm_cache, |app| {
    app.user("iris", PASSWORD, false).await;
    let warm_token = format!("Token {}", app.token("iris", PASSWORD).await);
    let cold_token = format!("Token {}", app.token("iris", PASSWORD).await);
    warm(&app, "/api/token/whoami", &warm_token).await;
    // The pool closes: every query fails at once.
    match app.auth.db().get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => app.auth.db().get_postgres_connection_pool().close().await,
        _ => app.auth.db().get_sqlite_connection_pool().close().await,
    }
    let (status, _, body) = app.get("/api/token/whoami", Some(&cold_token)).await;
    assert_eq!(status, 503, "an uncached credential with the database down: {body}");
    assert_eq!(body["code"], "service_unavailable");
    let (status, _, body) = app
        .get("/api/token/whoami", Some("Token 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
        .await;
    assert_eq!(status, 503, "an unknown token is not 401 while the database is down: {body}");
});

db_test!(
    cache_off_still_authenticates,
    settings = Settings { cache: CacheConfig { ttl: 0, ..CacheConfig::default() }, ..Settings::default() },
    |app| {
        app.user("jack", PASSWORD, false).await;
        let token = format!("Token {}", app.token("jack", PASSWORD).await);
        warm(&app, "/api/token/whoami", &token).await;
        assert!(app.auth.cache().principals().is_empty(), "ttl 0 caches nothing");
        let jwt = jwt_access(&app, "jack").await;
        warm(&app, "/api/jwt/whoami", &jwt).await;
        session_browser(&app, "jack").await;
    }
);

// ------------------------------------------------------------------------------------------
// Two instances sharing PostgreSQL (and Redis)
// ------------------------------------------------------------------------------------------

/// How long a revocation may take to reach the other instance in these tests (the measured
/// delay is milliseconds; the TTL is a minute, so only the bus can make this pass).
const PROPAGATION_BOUND: Duration = Duration::from_secs(3);

async fn second_instance(first: &TestApp, settings: &Settings) -> TestApp {
    let db = TestDb::another_pool(&first.db.url).await;
    let state = example_app::build_state(db.db.clone(), settings).await.expect("state");
    TestApp::serve(db, state, None)
}

async fn refused_within(app: &TestApp, path: &str, authorization: &str, why: &str) -> Duration {
    let start = Instant::now();
    loop {
        let (status, _, _) = app.get(path, Some(authorization)).await;
        if status == 401 {
            return start.elapsed();
        }
        assert_eq!(status, 200);
        assert!(
            start.elapsed() < PROPAGATION_BOUND,
            "{why}: still served on the other instance after {PROPAGATION_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn two_instances(settings: Settings) {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let first_state = example_app::build_state(db.db.clone(), &settings).await.expect("state");
    let a = TestApp::serve(db, first_state, None);
    let b = second_instance(&a, &settings).await;
    // Give both listeners a moment to subscribe (their first subscription flushes).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let user = a.user("kate", PASSWORD, false).await;
    let token = format!("Token {}", a.token("kate", PASSWORD).await);
    let jwt = jwt_access(&a, "kate").await;
    warm(&b, "/api/token/whoami", &token).await;
    warm(&b, "/api/jwt/whoami", &jwt).await;
    let (status, _, _) = a.call(reqwest::Method::DELETE, "/api/auth/token", Some(&token), None).await;
    assert_eq!(status, 204);
    let took = refused_within(&b, "/api/token/whoami", &token, "a token deleted on the other instance").await;
    eprintln!("token revocation reached the other instance in {took:?}");
    lifecycle::set_active(&a.auth, "kate", false).await.unwrap();
    let took = refused_within(&b, "/api/jwt/whoami", &jwt, "a JWT of a user deactivated on the other instance").await;
    eprintln!("deactivation reached the other instance in {took:?}");
    let _ = user;
}

fn long_ttl(redis: Option<String>) -> Settings {
    Settings { cache: CacheConfig { ttl: 60, redis_url: redis, ..CacheConfig::default() }, ..Settings::default() }
}

#[actix_web::rt::test]
async fn two_instances_over_postgres_notify() {
    two_instances(long_ttl(None)).await;
}

#[actix_web::rt::test]
async fn two_instances_over_redis_pubsub() {
    let Some(redis) = tests::redis_url() else {
        eprintln!("skipped: TEST_REDIS_URL is not set");
        return;
    };
    two_instances(long_ttl(Some(redis))).await;
}
