//! Throttling and the lockout of password guessing, over real HTTP against real databases
//! (and Redis): DRF rates with `Retry-After`, trusted proxies, lockout on every password
//! endpoint, reset on success, identical answers for unknown users, fail-closed stores.

use auth_runtime::ThrottleConfig;
use auth_runtime::throttling::{Rate, ThrottleStoreKind};
use example_app::Settings;
use reqwest::Method;
use serde_json::{Value, json};
use tests::{Backend, TestApp, basic, db_test, parts};

fn rate(s: &str) -> Rate {
    s.parse().unwrap()
}

fn with_throttle(throttle: ThrottleConfig) -> Settings {
    Settings { throttle, ..Settings::default() }
}

fn lockout(n: u32) -> Settings {
    with_throttle(ThrottleConfig { login_failures: Rate { num: n, window: 60 }, ..ThrottleConfig::default() })
}

/// Asserts a 429 with an integer `Retry-After` in 1..=max and `code: "throttled"`.
async fn assert_throttled(res: reqwest::Response, max: u64, what: &str) -> u64 {
    assert_eq!(res.status(), 429, "{what}");
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=max).contains(&retry), "{what}: Retry-After {retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "throttled", "{what}: {body}");
    assert!(body["detail"].as_str().unwrap().contains(&retry.to_string()), "{what}: {body}");
    retry
}

async fn obtain(app: &TestApp, user: &str, pw: &str) -> reqwest::Response {
    app.client.post(app.url("/api/auth/token")).json(&json!({"username": user, "password": pw})).send().await.unwrap()
}

db_test!(
    anon_and_user_rates_with_retry_after,
    settings = with_throttle(ThrottleConfig {
        anon: Some(rate("2/min")),
        user: Some(rate("3/min")),
        ..ThrottleConfig::default()
    }),
    |app| {
        app.user("alice", "pw", false).await;
        app.user("bob", "pw", false).await;
        // Anonymous: 2 per minute per IP (the 401 answers count: DRF throttles after the permission, so
        // a refused anonymous request is not charged; use a route that allows anonymous requests).
        for _ in 0..2 {
            let res = app.client.get(app.url("/api/health")).send().await.unwrap();
            assert_eq!(res.status(), 200, "health is public and never throttled");
        }
        let key_a = app.token("alice", "pw").await;
        let key_b = app.token("bob", "pw").await;
        for i in 0..3 {
            let res = app
                .client
                .get(app.url("/api/whoami"))
                .header("Authorization", format!("Token {key_a}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "alice request {i}");
        }
        let res = app
            .client
            .get(app.url("/api/whoami"))
            .header("Authorization", format!("Token {key_a}"))
            .send()
            .await
            .unwrap();
        assert_throttled(res, 60, "alice's 4th").await;
        // Per user: bob has his own count.
        let res = app
            .client
            .get(app.url("/api/whoami"))
            .header("Authorization", format!("Token {key_b}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
);

db_test!(spoofed_forwarded_for_is_ignored_without_trusted_proxies, settings = lockout(3), |app| {
    app.user("alice", "pw", false).await;
    for i in 0..3 {
        let res = app
            .client
            .post(app.url("/api/auth/token"))
            .header("X-Forwarded-For", format!("10.0.0.{i}"))
            .json(&json!({"username": format!("nobody{i}"), "password": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
    }
    // Three failures from 127.0.0.1 whatever the header said: this IP is locked, even for
    // another username with the right password.
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .header("X-Forwarded-For", "10.9.9.9")
        .json(&json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_throttled(res, 60, "IP locked").await;
});

db_test!(
    forwarded_for_is_used_with_one_trusted_proxy,
    settings = with_throttle(ThrottleConfig {
        login_failures: Rate { num: 2, window: 60 },
        num_proxies: 1,
        ..ThrottleConfig::default()
    }),
    |app| {
        app.user("alice", "pw", false).await;
        let attempt = |xff: &'static str, user: &'static str, pw: &'static str| {
            app.client
                .post(app.url("/api/auth/token"))
                .header("X-Forwarded-For", xff)
                .json(&json!({"username": user, "password": pw}))
                .send()
        };
        // Client 203.0.113.1 (as the trusted proxy reports; the leftmost value is the client's own claim).
        assert_eq!(attempt("1.1.1.1, 203.0.113.1", "ghost1", "x").await.unwrap().status(), 400);
        assert_eq!(attempt("2.2.2.2, 203.0.113.1", "ghost2", "x").await.unwrap().status(), 400);
        assert_throttled(attempt("3.3.3.3, 203.0.113.1", "alice", "pw").await.unwrap(), 60, "client IP locked").await;
        // Another client behind the same proxy is not.
        assert_eq!(attempt("203.0.113.2", "alice", "pw").await.unwrap().status(), 200);
    }
);

db_test!(lockout_per_username_on_every_password_endpoint, settings = lockout(3), |app| {
    app.user("alice", "pw", false).await;
    // The username is locked after 3 failures, whatever endpoint they came through.
    assert_eq!(obtain(&app, "alice", "bad1").await.status(), 400);
    let res = app
        .client
        .post(app.url("/api/auth/jwt/create"))
        .json(&json!({"username": "alice", "password": "bad2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res =
        app.client.get(app.url("/api/whoami")).header("Authorization", basic("alice", "bad3")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // Now even the right password is refused, on every endpoint, with Retry-After.
    assert_throttled(obtain(&app, "alice", "pw").await, 60, "token").await;
    let res = app
        .client
        .post(app.url("/api/auth/jwt/create"))
        .json(&json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_throttled(res, 60, "jwt").await;
    let res =
        app.client.get(app.url("/api/whoami")).header("Authorization", basic("alice", "pw")).send().await.unwrap();
    assert_throttled(res, 60, "basic").await;
});

db_test!(session_and_html_logins_are_locked_too, settings = lockout(2), |app| {
    app.user("alice", "pw", false).await;
    let client =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let csrf: Value = client.get(app.url("/api/auth/csrf")).send().await.unwrap().json().await.unwrap();
    let token = csrf["csrf_token"].as_str().unwrap().to_owned();
    let login = |pw: &'static str| {
        client
            .post(app.url("/api/auth/login"))
            .header("X-CSRFToken", token.clone())
            .json(&json!({"username": "alice", "password": pw}))
            .send()
    };
    assert_eq!(login("bad").await.unwrap().status(), 400);
    assert_eq!(login("bad").await.unwrap().status(), 400);
    assert_throttled(login("pw").await.unwrap(), 60, "session login").await;
    // The HTML form answers with a 429 page.
    let page = client.get(app.url("/accounts/login")).send().await.unwrap().text().await.unwrap();
    let field =
        page.split("name=\"csrfmiddlewaretoken\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let res = client
        .post(app.url("/accounts/login"))
        .form(&[("username", "alice"), ("password", "pw"), ("csrfmiddlewaretoken", &field), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
});

db_test!(
    success_resets_the_username_count,
    settings = with_throttle(ThrottleConfig {
        login_failures: Rate { num: 3, window: 60 },
        num_proxies: 1,
        ..ThrottleConfig::default()
    }),
    |app| {
        app.user("alice", "pw", false).await;
        // Each attempt comes from another client IP (one trusted proxy reports it), so only the
        // username's count can lock.
        let from = |ip: &'static str, pw: &'static str| {
            app.client
                .post(app.url("/api/auth/token"))
                .header("X-Forwarded-For", ip)
                .json(&json!({"username": "alice", "password": pw}))
                .send()
        };
        assert_eq!(from("198.51.100.1", "bad").await.unwrap().status(), 400);
        assert_eq!(from("198.51.100.2", "bad").await.unwrap().status(), 400);
        assert_eq!(from("198.51.100.3", "pw").await.unwrap().status(), 200, "two failures: not locked yet");
        // Without the reset these would be failures 3 and 4, and the next attempt locked.
        assert_eq!(from("198.51.100.4", "bad").await.unwrap().status(), 400);
        assert_eq!(from("198.51.100.5", "bad").await.unwrap().status(), 400);
        assert_eq!(from("198.51.100.6", "pw").await.unwrap().status(), 200, "the success reset the count");
        for ip in ["198.51.100.7", "198.51.100.8", "198.51.100.9"] {
            assert_eq!(from(ip, "bad").await.unwrap().status(), 400);
        }
        assert_throttled(from("198.51.100.10", "pw").await.unwrap(), 60, "three failures in a row lock the name").await;
    }
);

db_test!(throttled_answers_do_not_tell_who_exists, settings = lockout(2), |app| {
    app.user("alice", "pw", false).await;
    for user in ["alice", "ghost"] {
        let _ = obtain(&app, user, "bad").await;
    }
    let a = obtain(&app, "alice", "pw").await;
    let b = obtain(&app, "ghost", "pw").await;
    let (sa, _, ba) = parts(a).await;
    let (sb, _, bb) = parts(b).await;
    assert_eq!(sa, 429);
    assert_eq!((sa, ba["code"].clone()), (sb, bb["code"].clone()));
});

db_test!(a_scripted_guessing_run_is_stopped_at_the_limit, |app| {
    app.user("alice", "correct horse", false).await;
    // The default: 10 failures per 60 s. A dictionary run: the 11th attempt and all after
    // are refused, including the right password.
    let mut statuses = Vec::new();
    for i in 0..15 {
        let pw = if i == 12 { "correct horse".to_owned() } else { format!("guess{i}") };
        statuses.push(obtain(&app, "alice", &pw).await.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[400; 10]);
    assert_eq!(&statuses[10..], &[429; 5], "{statuses:?}");
});

#[actix_web::rt::test]
async fn rates_parse_from_environment_syntax() {
    let c: ThrottleConfig =
        serde_json::from_value(json!({"anon": "100/day", "user": "10/min", "login_failures": "5/30s"})).unwrap();
    assert_eq!(
        (c.anon, c.user, c.login_failures),
        (Some(rate("100/d")), Some(rate("10/m")), Rate { num: 5, window: 30 })
    );
}

/// Redis: two app instances share the limits.
#[actix_web::rt::test]
async fn redis_store_limits_hold_across_two_instances() {
    let Some(url) = tests::redis_url() else {
        eprintln!("skipped: TEST_REDIS_URL is not set");
        return;
    };
    let prefix = format!("test-{}-{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0));
    let throttle = ThrottleConfig {
        user: Some(rate("4/min")),
        login_failures: Rate { num: 3, window: 60 },
        store: ThrottleStoreKind::Redis,
        redis_url: Some(url),
        redis_prefix: prefix,
        ..ThrottleConfig::default()
    };
    let settings = Settings {
        throttle,
        secret_key: Some("shared-secret-key-for-two-instances-xyz".into()),
        ..Settings::default()
    };
    let a = TestApp::with_settings(Backend::Sqlite, settings.clone()).await.unwrap();
    let b_state = example_app::build_state(a.db.db.clone(), &settings).await.unwrap();
    let b = TestApp::serve(tests::TestDb::new(Backend::Sqlite).await.unwrap(), b_state, None);
    a.user("alice", "pw", false).await;
    let key = a.token("alice", "pw").await;
    // Requests alternate between the instances; the 5th is refused whichever serves it.
    for (i, app) in [&a, &b, &a, &b].into_iter().enumerate() {
        let res = app
            .client
            .get(app.url("/api/whoami"))
            .header("Authorization", format!("Token {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "request {i}");
    }
    let res = a.client.get(a.url("/api/whoami")).header("Authorization", format!("Token {key}")).send().await.unwrap();
    assert_throttled(res, 60, "5th across instances").await;
    // Login failures on A lock the username on B.
    for app in [&a, &b, &a] {
        let res = obtain(app, "alice", "bad").await;
        assert_eq!(res.status(), 400);
    }
    assert_throttled(obtain(&b, "alice", "pw").await, 60, "locked on B by failures on A and B").await;
}

#[actix_web::rt::test]
async fn store_faults_fail_closed_for_logins_and_open_for_rates() {
    // Nothing listens on port 1: every Redis call fails.
    let throttle = ThrottleConfig {
        user: Some(rate("1/min")),
        store: ThrottleStoreKind::Redis,
        redis_url: Some("redis://127.0.0.1:1".into()),
        ..ThrottleConfig::default()
    };
    let app = TestApp::with_settings(Backend::Sqlite, with_throttle(throttle)).await.unwrap();
    app.user("alice", "pw", false).await;
    let (status, _, body) = parts(obtain(&app, "alice", "pw").await).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("service_unavailable")), "login throttle fails closed");
    let key = auth_runtime::schemes::token::create_token(app.auth.db(), 1, None).await.unwrap().key;
    for _ in 0..3 {
        let (status, _, _) = app.call(Method::GET, "/api/whoami", Some(&format!("Token {key}")), None).await;
        assert_eq!(status, 200, "request rates fail open by default");
    }
}
