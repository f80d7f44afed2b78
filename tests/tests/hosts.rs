//! Trusted hosts and proxies (issue 10, finding 3), over real HTTP: a host that is not
//! allowed is 400 `invalid_host`; forwarded headers are read only behind trusted proxies
//! (`throttle.num_proxies`), so a forged `X-Forwarded-Host`/`-Proto` cannot make a foreign
//! `Origin` pass the session CSRF check nor move the OAuth2 issuer; a configured public
//! origin wins over the request.

use auth_runtime::{HostsConfig, ThrottleConfig};
use example_app::Settings;
use serde_json::{Value, json};
use tests::{TestApp, db_test};

/// The example app with `hosts` and `num_proxies` trusted proxies.
fn settings(hosts: HostsConfig, num_proxies: usize) -> Settings {
    Settings { hosts, throttle: ThrottleConfig { num_proxies, ..ThrottleConfig::default() }, ..Settings::default() }
}

/// Sends `GET path` with extra headers; status, JSON body and `Content-Type`.
async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, Value, String) {
    let mut req = app.client.get(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("send");
    let status = res.status().as_u16();
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), ct)
}

/// A session login (`GET /api/auth/csrf`, then `POST /api/auth/login` with the token) whose
/// requests all carry `headers`; the login's status and body.
async fn session_login(app: &TestApp, user: &str, pw: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let browser = app.browser();
    let with = |mut req: reqwest::RequestBuilder| {
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    };
    let res = with(browser.get(app.url("/api/auth/csrf"))).send().await.expect("csrf");
    assert_eq!(res.status(), 200, "GET /api/auth/csrf");
    let token = res.json::<Value>().await.expect("json")["csrf_token"].as_str().expect("token").to_owned();
    let res = with(browser.post(app.url("/api/auth/login")))
        .header("X-CSRFToken", token)
        .json(&json!({"username": user, "password": pw}))
        .send()
        .await
        .expect("login");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn issuer(body: &Value) -> &str {
    body["issuer"].as_str().unwrap_or_default()
}

db_test!(a_host_that_is_not_allowed_is_400_json, |app| {
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    for host in ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example:80", "bad host", "[::1"] {
        let (status, body, ct) = get(&app, "/api/health", &[("Host", host)]).await;
        assert_eq!(status, 400, "{host}: {body}");
        assert_eq!(body["code"], "invalid_host", "{host}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.contains("evil")), "the host is not echoed: {body}");
        assert!(ct.starts_with("application/json"), "{ct}");
    }
    // Every route, before routing and authentication: an unknown path too.
    let (status, body, _) = get(&app, "/no/such/path", &[("Host", "evil.example")]).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_host")));
    // The loopback names are allowed by default, on any port, in any case.
    for host in [format!("127.0.0.1:{port}"), format!("LOCALHOST:{port}"), "localhost".into(), "[::1]:1".into()] {
        let (status, body, _) = get(&app, "/api/health", &[("Host", &host)]).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
});

db_test!(forged_forwarded_headers_do_not_pass_the_csrf_origin_check, |app| {
    app.user("alice", "pw", false).await;
    // No trusted proxy (the default): X-Forwarded-Host/-Proto and Forwarded are the
    // client's word, so the app's origin stays http://127.0.0.1:PORT and a foreign Origin
    // that agrees with them is refused.
    let forged = [
        ("Origin", "https://evil.example"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "host=evil.example;proto=https"),
    ];
    let (status, body) = session_login(&app, "alice", "pw", &forged).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "csrf_failed", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Origin checking failed"), "{body}");
    // The app's own origin still logs in.
    let own = app.base.clone();
    let (status, body) = session_login(&app, "alice", "pw", &[("Origin", &own)]).await;
    assert_eq!(status, 200, "{body}");
});

db_test!(
    forwarded_headers_are_honoured_behind_one_trusted_proxy,
    settings = settings(
        HostsConfig { allowed_hosts: vec!["public.example".into(), "127.0.0.1".into()], ..HostsConfig::default() },
        1
    ),
    |app| {
        app.user("alice", "pw", false).await;
        let proxied = [("X-Forwarded-Host", "public.example"), ("X-Forwarded-Proto", "https")];
        let (status, body, _) = get(&app, "/.well-known/oauth-authorization-server", &proxied).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(issuer(&body), "https://public.example");
        // The proxy appends: the last entry is the one it saw, earlier ones are the client's.
        let appended =
            [("X-Forwarded-Host", "evil.example, public.example:8443"), ("X-Forwarded-Proto", "http, https")];
        let (status, body, _) = get(&app, "/.well-known/oauth-authorization-server", &appended).await;
        assert_eq!((status, issuer(&body)), (200, "https://public.example:8443"), "{body}");
        // RFC 7239 `Forwarded` when the proxy sends no X-Forwarded-*.
        let forwarded =
            [("Forwarded", "for=192.0.2.1;host=evil.example, for=192.0.2.2;host=public.example;proto=https")];
        let (status, body, _) = get(&app, "/.well-known/oauth-authorization-server", &forwarded).await;
        assert_eq!((status, issuer(&body)), (200, "https://public.example"), "{body}");
        // The forwarded host must be allowed too.
        let (status, body, _) = get(&app, "/api/health", &[("X-Forwarded-Host", "evil.example")]).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_host")), "{body}");
        // A session login through the proxy, from the public origin's page.
        let mut with_origin = proxied.to_vec();
        with_origin.push(("Origin", "https://public.example"));
        let (status, body) = session_login(&app, "alice", "pw", &with_origin).await;
        assert_eq!(status, 200, "{body}");
        // ... and not from another one.
        let mut foreign = proxied.to_vec();
        foreign.push(("Origin", "https://evil.example"));
        let (status, body) = session_login(&app, "alice", "pw", &foreign).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("csrf_failed")), "{body}");
    }
);

db_test!(the_oauth2_issuer_does_not_follow_a_foreign_host, |app| {
    let (status, body, _) = get(&app, "/.well-known/oauth-authorization-server", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(issuer(&body), app.base, "the issuer is the app's own origin");
    let (status, body, _) = get(&app, "/.well-known/oauth-authorization-server", &[("Host", "evil.example")]).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_host")), "{body}");
    let forged =
        [("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https"), ("Forwarded", "host=evil.example")];
    let (status, body, _) = get(&app, "/.well-known/oauth-authorization-server", &forged).await;
    assert_eq!(status, 200);
    assert_eq!(issuer(&body), app.base, "forwarded headers are ignored without a trusted proxy: {body}");
    assert_eq!(body["token_endpoint"], format!("{}/o/token", app.base));
});

db_test!(
    a_configured_public_origin_wins,
    settings =
        settings(HostsConfig { public_origin: Some("https://api.example.com".into()), ..HostsConfig::default() }, 0),
    |app| {
        app.user("alice", "pw", false).await;
        for headers in [
            vec![],
            vec![("Host", "api.example.com")],
            vec![("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "http")],
        ] {
            let (status, body, _) = get(&app, "/.well-known/oauth-authorization-server", &headers).await;
            assert_eq!(status, 200, "{headers:?}: {body}");
            assert_eq!(issuer(&body), "https://api.example.com", "{headers:?}");
        }
        // The public origin's host is allowed; others still are not.
        let (status, _, _) = get(&app, "/api/health", &[("Host", "evil.example")]).await;
        assert_eq!(status, 400);
        // CSRF: the public origin is the app's own; the loopback one no longer is.
        let (status, body) = session_login(&app, "alice", "pw", &[("Origin", "https://api.example.com")]).await;
        assert_eq!(status, 200, "{body}");
        let own = app.base.clone();
        let (status, body) = session_login(&app, "alice", "pw", &[("Origin", &own)]).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("csrf_failed")), "{body}");
        // Over HTTPS (the public origin's scheme) a request without Origin needs a Referer.
        let (status, body) = session_login(&app, "alice", "pw", &[]).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("csrf_failed")), "{body}");
        let (status, body) = session_login(&app, "alice", "pw", &[("Referer", "https://api.example.com/login")]).await;
        assert_eq!(status, 200, "{body}");
    }
);
