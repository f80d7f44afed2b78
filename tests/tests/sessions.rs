//! The Session scheme over real HTTP against real databases (and Redis): login with CSRF,
//! fixation, logout and replay, idle and absolute expiry, CSRF rules, origins, the HTML
//! login form and its `next`, the user lifecycle, store faults.

use std::time::Duration;

use auth_runtime::SessionConfig;
use auth_runtime::schemes::session::SessionStoreKind;
use example_app::Settings;
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::redirect::Policy;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::{Backend, TestApp, basic, db_test, parts};

/// A cookie-less client that does not follow redirects; cookies are handled by hand so the
/// test sees exactly what the server sets.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The `Set-Cookie` headers of a response, by name: (value, whole header).
fn set_cookies(headers: &HeaderMap) -> Vec<(String, String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            let s = v.to_str().unwrap().to_owned();
            let first = s.split(';').next().unwrap();
            let (name, value) = first.split_once('=').unwrap();
            (name.trim().to_owned(), value.to_owned(), s)
        })
        .collect()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
    set_cookies(headers).into_iter().find(|(n, _, _)| n == name).map(|(_, v, whole)| (v, whole))
}

/// A browser-like session driven by hand: the current `sessionid` and `csrftoken`.
#[derive(Default, Clone, Debug)]
struct Jar {
    session: Option<String>,
    csrf: Option<String>,
}

impl Jar {
    fn header(&self) -> String {
        let mut parts = vec![];
        if let Some(s) = &self.session {
            parts.push(format!("sessionid={s}"));
        }
        if let Some(c) = &self.csrf {
            parts.push(format!("csrftoken={c}"));
        }
        parts.join("; ")
    }

    fn absorb(&mut self, headers: &HeaderMap) {
        if let Some((v, whole)) = cookie(headers, "sessionid") {
            // A removal cookie (logout) empties the jar's session.
            self.session = if v.is_empty() || whole.contains("Max-Age=0") { None } else { Some(v) };
        }
        if let Some((v, _)) = cookie(headers, "csrftoken") {
            self.csrf = Some(v);
        }
    }
}

async fn send(
    app: &TestApp,
    jar: &mut Jar,
    method: reqwest::Method,
    path: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let mut req = raw_client().request(method, app.url(path));
    let header = jar.header();
    if !header.is_empty() {
        req = req.header(COOKIE, header);
    }
    if let Some(c) = csrf {
        req = req.header("X-CSRFToken", c);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    jar.absorb(&headers);
    let text = res.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Fetches a CSRF token, then logs in; returns the jar.
async fn login(app: &TestApp, user: &str, pw: &str) -> Jar {
    let mut jar = Jar::default();
    let (status, _, body) = send(app, &mut jar, reqwest::Method::GET, "/api/auth/csrf", None, None).await;
    assert_eq!(status, 200);
    let token = body["csrf_token"].as_str().unwrap().to_owned();
    let (status, _, body) = send(
        app,
        &mut jar,
        reqwest::Method::POST,
        "/api/auth/login",
        Some(&token),
        Some(json!({"username": user, "password": pw})),
    )
    .await;
    assert_eq!((status, body.clone()), (200, json!({"username": user})), "{body}");
    jar
}

/// Rows of `auth_sessions`.
async fn session_rows(app: &TestApp) -> usize {
    use sea_orm::EntityTrait;
    auth_runtime::schemes::session::store::entity::Entity::find().all(app.auth.db()).await.unwrap().len()
}

db_test!(csrf_endpoint_sets_a_readable_cookie_and_no_session, |app| {
    let mut jar = Jar::default();
    let (status, headers, body) = send(&app, &mut jar, reqwest::Method::GET, "/api/auth/csrf", None, None).await;
    assert_eq!(status, 200);
    let token = body["csrf_token"].as_str().unwrap();
    let (value, whole) = cookie(&headers, "csrftoken").expect("csrftoken cookie");
    assert!(!whole.contains("HttpOnly"), "JavaScript must read it: {whole}");
    assert!(whole.contains("SameSite=Lax") && whole.contains("Path=/"), "{whole}");
    assert!(!whole.contains("Secure"), "the example app serves plain HTTP: {whole}");
    assert_eq!(value, token, "the cookie carries the same token");
    let (_, headers, again) = send(&app, &mut jar, reqwest::Method::GET, "/api/auth/csrf", None, None).await;
    let again = again["csrf_token"].as_str().unwrap();
    assert_ne!(again, token, "masked afresh for each use");
    let unmask = auth_runtime::schemes::session::unmask;
    assert_eq!(unmask(again), unmask(token), "one secret per browser, kept in its cookie");
    assert!(cookie(&headers, "sessionid").is_none(), "no session for an anonymous visitor");
    assert_eq!(session_rows(&app).await, 0, "no server-side state for an anonymous visitor");
});

db_test!(anonymous_traffic_stores_nothing, |app| {
    app.user("alice", "pw", false).await;
    let bad = json!({"username": "alice", "password": "nope"});
    for i in 0..5 {
        let mut jar = Jar::default();
        let (_, h1, body) = send(&app, &mut jar, reqwest::Method::GET, "/api/auth/csrf", None, None).await;
        let token = body["csrf_token"].as_str().unwrap().to_owned();
        let res = raw_client().get(app.url("/accounts/login?next=/x")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let h2 = res.headers().clone();
        // A failed login, a login refused by CSRF, and a garbage or planted `sessionid`.
        let (status, h3, _) =
            send(&app, &mut jar, reqwest::Method::POST, "/api/auth/login", Some(&token), Some(bad.clone())).await;
        assert_eq!(status, 400);
        let (status, h4, _) =
            send(&app, &mut jar, reqwest::Method::POST, "/api/auth/login", None, Some(bad.clone())).await;
        assert_eq!(status, 403);
        let mut planted = Jar { session: Some(if i % 2 == 0 { "garbage".into() } else { "A".repeat(43) }), csrf: None };
        let (status, h5, _) = send(&app, &mut planted, reqwest::Method::GET, "/api/whoami", None, None).await;
        assert_eq!(status, 401);
        for h in [h1, h2, h3, h4, h5] {
            assert!(cookie(&h, "sessionid").is_none(), "{h:?}");
        }
    }
    assert_eq!(session_rows(&app).await, 0);
});

db_test!(login_needs_csrf_and_renews_the_session, |app| {
    app.user("alice", "pw", false).await;
    app.user("bob", "pw", false).await;
    let mut jar = Jar::default();
    let creds = json!({"username": "alice", "password": "pw"});
    // No CSRF token at all: 403.
    let (status, _, body) =
        send(&app, &mut jar, reqwest::Method::POST, "/api/auth/login", None, Some(creds.clone())).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("csrf_failed")));
    assert!(body["detail"].as_str().unwrap().contains("missing"), "{body}");
    let (_, _, body) = send(&app, &mut jar, reqwest::Method::GET, "/api/auth/csrf", None, None).await;
    let token = body["csrf_token"].as_str().unwrap().to_owned();
    let old_csrf = jar.csrf.clone().unwrap();
    // A wrong token: 403 incorrect.
    let wrong = tests_support_mask();
    let (status, _, body) =
        send(&app, &mut jar, reqwest::Method::POST, "/api/auth/login", Some(&wrong), Some(creds.clone())).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("csrf_failed")));
    assert!(body["detail"].as_str().unwrap().contains("incorrect"), "{body}");
    // Bad credentials with a good token: 400.
    let (status, _, body) = send(
        &app,
        &mut jar,
        reqwest::Method::POST,
        "/api/auth/login",
        Some(&token),
        Some(json!({"username": "alice", "password": "nope"})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_credentials")));
    // A planted session id (here: bob's live session) neither blocks the login nor survives it.
    let bob = login(&app, "bob", "pw").await;
    let planted = bob.session.clone().unwrap();
    jar.session = Some(planted.clone());
    // The cookie's value works as the header too; login renews the session id and the token.
    let (status, _, body) =
        send(&app, &mut jar, reqwest::Method::POST, "/api/auth/login", Some(&old_csrf), Some(creds)).await;
    assert_eq!((status, body), (200, json!({"username": "alice"})));
    let new_session = jar.session.clone().unwrap();
    assert_ne!(new_session, planted, "a fresh session id at login (no fixation)");
    assert_ne!(jar.csrf.clone().unwrap(), old_csrf, "the CSRF token changes at login");
    let (status, _, body) = send(&app, &mut jar, reqwest::Method::GET, "/api/whoami", None, None).await;
    assert_eq!((status, body), (200, json!({"username": "alice", "scheme": "session"})));
    // The planted session id was ended by the login.
    let mut fixated = Jar { session: Some(planted), csrf: None };
    let (status, _, _) = send(&app, &mut fixated, reqwest::Method::GET, "/api/session/whoami", None, None).await;
    assert_eq!(status, 403);
    assert_eq!(session_rows(&app).await, 1, "only alice's new session is stored");
});

db_test!(
    the_idle_expiry_moves_rarely_and_renews_the_cookie,
    settings = Settings {
        session: SessionConfig {
            idle_timeout: 10,
            expiry_refresh_percent: 10,
            cookie_secure: false,
            ..SessionConfig::default()
        },
        cache: auth_runtime::CacheConfig { ttl: 0, ..auth_runtime::CacheConfig::default() },
        ..Settings::default()
    },
    |app| {
        app.user("alice", "pw", false).await;
        let mut jar = login(&app, "alice", "pw").await;
        let key = jar.session.clone().unwrap();
        // Within a tenth of the idle timeout: no write, no cookie.
        let (status, headers, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
        assert_eq!(status, 200);
        assert!(cookie(&headers, "sessionid").is_none(), "{headers:?}");
        actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
        let (status, headers, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
        assert_eq!(status, 200);
        let (value, whole) = cookie(&headers, "sessionid").expect("the cookie renewed with the expiry");
        assert_eq!(value, key, "the same session");
        assert!(whole.contains("Max-Age=10") && whole.contains("HttpOnly"), "{whole}");
        let (_, headers, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
        assert!(cookie(&headers, "sessionid").is_none(), "once per interval");
    }
);

db_test!(
    expired_sessions_are_deleted_in_the_background,
    settings = Settings {
        session: SessionConfig {
            idle_timeout: 1,
            cleanup_interval: 1,
            cookie_secure: false,
            ..SessionConfig::default()
        },
        ..Settings::default()
    },
    |app| {
        let task = auth_runtime::lifecycle::spawn_flush(app.auth.clone()).expect("a cleanup task");
        app.user("alice", "pw", false).await;
        let _jar = login(&app, "alice", "pw").await;
        let _jar = login(&app, "alice", "pw").await;
        assert_eq!(session_rows(&app).await, 2);
        let mut rows = usize::MAX;
        for _ in 0..40 {
            actix_web::rt::time::sleep(Duration::from_millis(250)).await;
            rows = session_rows(&app).await;
            if rows == 0 {
                break;
            }
        }
        task.abort();
        assert_eq!(rows, 0, "expired rows removed without the CLI");
    }
);

/// Any well-formed masked token that belongs to no session.
fn tests_support_mask() -> String {
    auth_runtime::schemes::session::mask(&[9u8; 32])
}

db_test!(unsafe_methods_need_csrf_only_for_sessions, |app| {
    app.user("root", "pw", true).await;
    let mut jar = login(&app, "root", "pw").await;
    let book = json!({"title": "T", "author": "A"});
    let (status, _, body) = send(&app, &mut jar, reqwest::Method::POST, "/api/books", None, Some(book.clone())).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("csrf_failed")));
    assert!(body["detail"].as_str().unwrap().contains("missing"));
    let wrong = tests_support_mask();
    let (status, _, body) =
        send(&app, &mut jar, reqwest::Method::POST, "/api/books", Some(&wrong), Some(book.clone())).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("csrf_failed")));
    let csrf = jar.csrf.clone().unwrap();
    let (status, _, body) =
        send(&app, &mut jar, reqwest::Method::POST, "/api/books", Some(&csrf), Some(book.clone())).await;
    assert_eq!(status, 201, "{body}");
    // Safe methods need none.
    let (status, _, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/books", None, None).await;
    assert_eq!(status, 200);
    // Basic and Token requests need no CSRF token.
    let res = app
        .client
        .post(app.url("/api/books"))
        .header("Authorization", basic("root", "pw"))
        .json(&book)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let key = app.token("root", "pw").await;
    let res = app
        .client
        .post(app.url("/api/books"))
        .header("Authorization", format!("Token {key}"))
        .json(&book)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
});

db_test!(logout_destroys_the_session_server_side, |app| {
    app.user("alice", "pw", false).await;
    let mut jar = login(&app, "alice", "pw").await;
    let stolen = jar.clone();
    let csrf = jar.csrf.clone().unwrap();
    // Logout needs CSRF too.
    let (status, _, body) = send(&app, &mut jar.clone(), reqwest::Method::POST, "/api/auth/logout", None, None).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("csrf_failed")));
    let (status, headers, _) = send(&app, &mut jar, reqwest::Method::POST, "/api/auth/logout", Some(&csrf), None).await;
    assert_eq!(status, 204);
    let (_, removal) = cookie(&headers, "sessionid").expect("removal cookie");
    assert!(removal.contains("Path=/"), "{removal}");
    // The old cookie replayed: anonymous everywhere.
    let mut replay = stolen;
    let (status, challenges, body) = {
        let res = raw_client().get(app.url("/api/whoami")).header(COOKIE, replay.header()).send().await.unwrap();
        parts(res).await
    };
    assert_eq!((status, body["code"].as_str()), (401, Some("not_authenticated")));
    assert_eq!(challenges, tests::DEFAULT_CHALLENGES);
    let (status, _, body) = send(&app, &mut replay, reqwest::Method::GET, "/api/session/whoami", None, None).await;
    assert_eq!(status, 403, "a session failure alone is 403: {body}");
    let rows = app.db.db.execute_unprepared("SELECT 1 FROM auth_sessions").await.unwrap().rows_affected();
    let _ = rows;
});

db_test!(
    idle_sessions_expire,
    settings = Settings {
        session: SessionConfig { idle_timeout: 1, cookie_secure: false, ..SessionConfig::default() },
        ..Settings::default()
    },
    |app| {
        app.user("alice", "pw", false).await;
        let mut jar = login(&app, "alice", "pw").await;
        let (status, _, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
        assert_eq!(status, 200);
        actix_web::rt::time::sleep(Duration::from_millis(2200)).await;
        let (status, _, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
        assert_eq!(status, 403, "idle for longer than the timeout");
        let counts = auth_runtime::lifecycle::flush_expired(&app.auth).await.unwrap();
        assert!(counts.get("sessions") >= 1, "{counts:?}");
    }
);

db_test!(
    sessions_end_after_the_absolute_lifetime,
    settings = Settings {
        session: SessionConfig { absolute_lifetime: 1, cookie_secure: false, ..SessionConfig::default() },
        ..Settings::default()
    },
    |app| {
        app.user("alice", "pw", false).await;
        let mut jar = login(&app, "alice", "pw").await;
        for _ in 0..3 {
            let (status, _, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
            if status != 200 {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(600)).await;
        }
        let (status, _, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
        assert_eq!(status, 403, "used all along, but older than the absolute lifetime");
    }
);

// One trusted proxy: `X-Forwarded-Proto: https` below is what a TLS-terminating proxy
// reports (without one it is the client's word and ignored; see tests/tests/hosts.rs).
db_test!(
    origin_checks,
    settings = Settings {
        throttle: auth_runtime::ThrottleConfig { num_proxies: 1, ..auth_runtime::ThrottleConfig::default() },
        ..Settings::default()
    },
    |app| {
        app.user("root", "pw", true).await;
        let mut jar = login(&app, "root", "pw").await;
        let csrf = jar.csrf.clone().unwrap();
        let host = app.base.trim_start_matches("http://").to_owned();
        let post = |extra: Vec<(&'static str, String)>| {
            let mut req = raw_client()
                .post(app.url("/api/books"))
                .header(COOKIE, jar.header())
                .header("X-CSRFToken", csrf.clone())
                .json(&json!({"title": "T", "author": "A"}));
            for (k, v) in extra {
                req = req.header(k, v);
            }
            req.send()
        };
        let check = |res: reqwest::Response, want: u16, needle: &'static str| async move {
            let (status, _, body) = parts(res).await;
            assert_eq!(status, want, "{needle}: {body}");
            if want == 403 {
                assert_eq!(body["code"], "csrf_failed");
                assert!(body["detail"].as_str().unwrap().contains(needle), "{needle}: {body}");
            }
        };
        check(post(vec![("Sec-Fetch-Site", "cross-site".into())]).await.unwrap(), 403, "Cross-site").await;
        check(post(vec![("Origin", "http://evil.example".into())]).await.unwrap(), 403, "Origin checking failed").await;
        check(post(vec![("Origin", format!("http://{host}"))]).await.unwrap(), 201, "").await;
        // HTTPS (as a TLS-terminating proxy reports it): the Referer is required without Origin.
        let https = || ("X-Forwarded-Proto", "https".to_owned());
        check(post(vec![https()]).await.unwrap(), 403, "no Referer").await;
        check(
            post(vec![https(), ("Referer", "https://evil.example/page".into())]).await.unwrap(),
            403,
            "Referer checking failed",
        )
        .await;
        check(
            post(vec![https(), ("Referer", format!("http://{host}/"))]).await.unwrap(),
            403,
            "Referer checking failed",
        )
        .await;
        check(post(vec![https(), ("Referer", format!("https://{host}/books"))]).await.unwrap(), 201, "").await;
        check(post(vec![https(), ("Origin", format!("https://{host}"))]).await.unwrap(), 201, "").await;
        check(
            post(vec![https(), ("Origin", "https://evil.example".into())]).await.unwrap(),
            403,
            "Origin checking failed",
        )
        .await;
        let _ = &mut jar;
    }
);

db_test!(
    trusted_origins_are_accepted,
    settings = Settings {
        session: SessionConfig {
            trusted_origins: vec!["https://app.example".into()],
            cookie_secure: false,
            ..SessionConfig::default()
        },
        ..Settings::default()
    },
    |app| {
        app.user("root", "pw", true).await;
        let jar = login(&app, "root", "pw").await;
        let res = raw_client()
            .post(app.url("/api/books"))
            .header(COOKIE, jar.header())
            .header("X-CSRFToken", jar.csrf.clone().unwrap())
            .header("Origin", "https://app.example")
            .json(&json!({"title": "T", "author": "A"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
);

db_test!(html_login_form_and_next, |app| {
    app.user("alice", "pw", false).await;
    let mut jar = Jar::default();
    let get = raw_client().get(app.url("/accounts/login?next=/api/books")).send().await.unwrap();
    assert_eq!(get.status(), 200);
    assert!(get.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    jar.absorb(get.headers());
    let html = get.text().await.unwrap();
    for field in
        ["name=\"username\"", "name=\"password\"", "name=\"csrfmiddlewaretoken\"", "name=\"next\" value=\"/api/books\""]
    {
        assert!(html.contains(field), "{field} in {html}");
    }
    let token =
        html.split("name=\"csrfmiddlewaretoken\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let post = |jar: &Jar, form: Vec<(&str, &str)>| {
        raw_client().post(app.url("/accounts/login")).header(COOKIE, jar.header()).form(&form).send()
    };
    // Missing CSRF: 403.
    let res = post(&jar, vec![("username", "alice"), ("password", "pw"), ("next", "/api/books")]).await.unwrap();
    assert_eq!(res.status(), 403);
    // Bad credentials: 200 with the form and an error.
    let res =
        post(&jar, vec![("username", "alice"), ("password", "bad"), ("csrfmiddlewaretoken", &token), ("next", "/x")])
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    jar.absorb(res.headers());
    let html = res.text().await.unwrap();
    assert!(html.contains("Please enter a correct username and password."), "{html}");
    // Another host in `next` is refused: the redirect goes to `/`.
    for (next, expected) in [
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/api/books", "/api/books"),
    ] {
        let mut jar = Jar::default();
        let get = raw_client().get(app.url("/accounts/login")).send().await.unwrap();
        jar.absorb(get.headers());
        let html = get.text().await.unwrap();
        let token =
            html.split("name=\"csrfmiddlewaretoken\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let res = post(
            &jar,
            vec![("username", "alice"), ("password", "pw"), ("csrfmiddlewaretoken", &token), ("next", next)],
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 302, "{next}");
        assert_eq!(res.headers()["location"], expected, "{next}");
        jar.absorb(res.headers());
        let (status, _, body) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
        assert_eq!((status, body["username"].as_str()), (200, Some("alice")));
    }
    // The page escapes `next`.
    let res = raw_client().get(app.url("/accounts/login?next=/%22%3E%3Cscript%3E")).send().await.unwrap();
    let html = res.text().await.unwrap();
    assert!(!html.contains("\"><script>"), "{html}");
});

db_test!(inactive_users_lose_their_sessions_at_once, |app| {
    app.user("alice", "pw", false).await;
    let mut jar = login(&app, "alice", "pw").await;
    auth_runtime::lifecycle::set_active(&app.auth, "alice", false).await.unwrap();
    let (status, _, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
    assert_eq!(status, 403);
    auth_runtime::lifecycle::set_active(&app.auth, "alice", true).await.unwrap();
    let (status, _, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
    assert_eq!(status, 403, "deactivation ended the session for good");
    let mut jar = login(&app, "alice", "pw").await;
    let (status, _, _) = send(&app, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
    assert_eq!(status, 200, "a new login works after re-activation");
});

db_test!(password_change_and_deletion_end_sessions, |app| {
    app.user("alice", "pw", false).await;
    app.user("bob", "pw", false).await;
    let mut alice = login(&app, "alice", "pw").await;
    let mut bob = login(&app, "bob", "pw").await;
    auth_runtime::lifecycle::change_password(&app.auth, "alice", "new").await.unwrap();
    let (status, _, _) = send(&app, &mut alice, reqwest::Method::GET, "/api/session/whoami", None, None).await;
    assert_eq!(status, 403);
    auth_runtime::lifecycle::delete_user(&app.auth, "bob").await.unwrap();
    let (status, _, _) = send(&app, &mut bob, reqwest::Method::GET, "/api/session/whoami", None, None).await;
    assert_eq!(status, 403);
});

db_test!(store_fault_is_503_not_anonymous, |app| {
    app.user("alice", "pw", false).await;
    let mut jar = login(&app, "alice", "pw").await;
    app.db.db.execute_unprepared("DROP TABLE auth_sessions").await.unwrap();
    let (status, _, body) = send(&app, &mut jar, reqwest::Method::GET, "/api/whoami", None, None).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("service_unavailable")), "{body}");
    // Without a session cookie nothing is loaded: other schemes still work.
    let res =
        app.client.get(app.url("/api/whoami")).header("Authorization", basic("alice", "pw")).send().await.unwrap();
    assert_eq!(res.status(), 200);
});

db_test!(the_database_keeps_no_session_key, |app| {
    use sea_orm::EntityTrait;
    app.user("alice", "pw", false).await;
    let jar = login(&app, "alice", "pw").await;
    let rows = auth_runtime::schemes::session::store::entity::Entity::find().all(app.auth.db()).await.unwrap();
    let cookie = jar.session.unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        assert_eq!(row.key_digest.len(), 64);
        assert!(!row.state.contains(&cookie) && !row.key_digest.contains(&cookie));
        assert!(!row.state.contains("pw"), "{}", row.state);
    }
});

/// Redis: sessions shared by two instances of the app, logout seen by both.
#[actix_web::rt::test]
async fn redis_store_is_shared_by_two_instances() {
    let Some(redis_url) = tests::redis_url() else {
        eprintln!("skipped: TEST_REDIS_URL is not set");
        return;
    };
    let settings = Settings {
        secret_key: Some("a-shared-secret-key-for-both-instances-1234".into()),
        session: SessionConfig {
            store: SessionStoreKind::Redis,
            redis_url: Some(redis_url),
            cookie_secure: false,
            ..SessionConfig::default()
        },
        ..Settings::default()
    };
    let a = TestApp::with_settings(Backend::Sqlite, settings.clone()).await.unwrap();
    // The second instance shares the database and Redis.
    let state = example_app::build_state(a.db.db.clone(), &settings).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b_base = format!("http://{}", listener.local_addr().unwrap());
    let server = actix_web::HttpServer::new(move || example_app::app(state.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    a.user("alice", "pw", false).await;
    let mut jar = login(&a, "alice", "pw").await;
    let on_b = |jar: &Jar| raw_client().get(format!("{b_base}/api/session/whoami")).header(COOKIE, jar.header()).send();
    let res = on_b(&jar).await.unwrap();
    assert_eq!(res.status(), 200, "a session made on A works on B");
    let csrf = jar.csrf.clone().unwrap();
    let stolen = jar.clone();
    let (status, _, _) = send(&a, &mut jar, reqwest::Method::POST, "/api/auth/logout", Some(&csrf), None).await;
    assert_eq!(status, 204);
    let res = on_b(&stolen).await.unwrap();
    assert_eq!(res.status(), 403, "logged out on A, refused on B");
    // Deactivation ends Redis sessions too (through the revocation time).
    let mut jar = login(&a, "alice", "pw").await;
    auth_runtime::lifecycle::set_active(&a.auth, "alice", false).await.unwrap();
    auth_runtime::lifecycle::set_active(&a.auth, "alice", true).await.unwrap();
    let (status, _, _) = send(&a, &mut jar, reqwest::Method::GET, "/api/session/whoami", None, None).await;
    assert_eq!(status, 403);
    handle.stop(false).await;
}
