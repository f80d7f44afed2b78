//! Error answers of the example app: routing (404, 405), trailing slashes, bodies (400,
//! 413), logins, oversized headers, malformed `Authorization` values, and store faults
//! (503, never 401). Every error body is `{"detail", "code"}` JSON and nothing a client
//! sends may cause a 5xx.

use std::io::{Read, Write};
use tests::DEFAULT_CHALLENGES;

use auth_runtime::lifecycle::create_user;
use auth_runtime::users::NewUser;
use reqwest::Method;
use reqwest::header::HeaderValue;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::{TestApp, basic, db_test, parts};

const BASIC: &str = "Basic realm=\"api\", charset=\"UTF-8\"";

/// Asserts an error body: JSON content type, `detail` a non-empty string, `code` the given
/// snake_case code.
async fn assert_error(res: reqwest::Response, status: u16, code: &str, what: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "{what}");
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
    assert!(ct.as_deref().is_some_and(|c| c.starts_with("application/json")), "{what}: content-type {ct:?}");
    let body: Value = res.json().await.unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
    assert_eq!(body["code"], code, "{what}: {body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{what}: only detail and code: {body}");
    body
}

/// Asserts a 400 for a body that cannot be used: `invalid_request` or `parse_error`
/// (CONTRACT.md allows either).
async fn assert_bad_request(res: reqwest::Response, what: &str) {
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
    assert!(ct.as_deref().is_some_and(|c| c.starts_with("application/json")), "{what}: content-type {ct:?}");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(status, 400, "{what}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON {text:?}: {e}"));
    let code = body["code"].as_str().unwrap_or_default();
    assert!(code == "invalid_request" || code == "parse_error", "{what}: {body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{what}: only detail and code: {body}");
}

/// Sends raw bytes over a new TCP connection to the app and returns the response head and
/// body as text (lossy). Runs on the blocking pool: the server shares this thread's runtime.
async fn raw(app: &TestApp, request: Vec<u8>) -> String {
    let addr = app.base.trim_start_matches("http://").to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        // The server may answer and close before reading everything: ignore write errors.
        let _ = stream.write_all(&request);
        let _ = stream.flush();
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if let Some(text) = complete_response(&out) {
                        return text;
                    }
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .expect("raw request")
}

/// The response as text once its head and `Content-Length` body are complete.
fn complete_response(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().ok()))
        .flatten()?;
    (body.len() >= length).then(|| text.into_owned())
}

/// The status code of a raw response.
fn raw_status(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line in {response:?}"))
}

// ---------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------

db_test!(unknown_paths_are_404_json, |app| {
    app.user("root", "pw", true).await;
    for path in ["/nope", "/api", "/api/", "/api/nope", "/api/whoami/extra", "/api/books/1/2", "/API/WHOAMI"] {
        for auth in [None, Some(basic("root", "pw"))] {
            let mut req = app.client.get(app.url(path));
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            assert_error(req.send().await.unwrap(), 404, "not_found", path).await;
        }
    }
    // Unknown paths are 404 whatever the method and body.
    let res = app.client.post(app.url("/nope")).body("garbage").send().await.unwrap();
    assert_error(res, 404, "not_found", "POST /nope").await;
});

db_test!(known_paths_with_another_method_are_405_json, |app| {
    app.user("root", "pw", true).await;
    let cases = [
        (Method::POST, "/api/health"),
        (Method::PUT, "/api/whoami"),
        (Method::DELETE, "/api/whoami"),
        (Method::POST, "/api/basic/whoami"),
        (Method::PATCH, "/api/token/whoami"),
        (Method::PUT, "/api/books"),
        (Method::DELETE, "/api/books"),
        (Method::POST, "/api/books/1"),
        (Method::PATCH, "/api/books/1"),
        (Method::POST, "/api/admin/users"),
        (Method::GET, "/api/auth/token"),
        (Method::PUT, "/api/auth/token"),
        (Method::GET, "/api/auth/tokens"),
        (Method::POST, "/api/auth/tokens"),
    ];
    for (method, path) in cases {
        for auth in [None, Some(basic("root", "pw"))] {
            let mut req = app.client.request(method.clone(), app.url(path));
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            assert_error(req.send().await.unwrap(), 405, "method_not_allowed", &format!("{method} {path}")).await;
        }
    }
});

db_test!(trailing_slash_is_the_same_route, |app| {
    app.user("root", "pw", true).await;
    let (status, _, body) = app.get("/api/whoami/", Some(&basic("root", "pw"))).await;
    assert_eq!((status, body), (200, json!({"username": "root", "scheme": "basic"})));
    let (status, challenges, body) = app.get("/api/whoami/", None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("not_authenticated")));
    assert_eq!(challenges, DEFAULT_CHALLENGES);
    let (status, _, body) = app.get("/api/health/", None).await;
    assert_eq!((status, body), (200, json!({"status": "ok", "database": "ok"})));
    let (status, _, body) = app.get("/api/basic/whoami/", Some(&basic("root", "pw"))).await;
    assert_eq!((status, body["scheme"].as_str()), (200, Some("basic")));
    let (status, _, book) = app
        .call(Method::POST, "/api/books/", Some(&basic("root", "pw")), Some(json!({"title": "T", "author": "A"})))
        .await;
    assert_eq!(status, 201, "{book}");
    let id = book["id"].as_i64().unwrap();
    let (status, _, got) = app.get(&format!("/api/books/{id}/"), Some(&basic("root", "pw"))).await;
    assert_eq!((status, got), (200, book));
    let res = app
        .client
        .post(app.url("/api/auth/token/"))
        .json(&json!({"username": "root", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app.client.put(app.url("/api/whoami/")).send().await.unwrap();
    assert_error(res, 405, "method_not_allowed", "PUT /api/whoami/").await;
});

// ---------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------

/// `(what, content-type, body)` of bodies that `POST /api/books` must refuse with 400.
fn bad_book_bodies() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let json = "application/json";
    vec![
        ("not JSON", json, b"{\"title\": \"x\", ".to_vec()),
        ("garbage", json, b"hello".to_vec()),
        ("empty", json, Vec::new()),
        ("string", json, b"\"T\"".to_vec()),
        ("number", json, b"42".to_vec()),
        ("null", json, b"null".to_vec()),
        ("empty object", json, b"{}".to_vec()),
        ("missing author", json, b"{\"title\": \"T\"}".to_vec()),
        ("missing title", json, b"{\"author\": \"A\"}".to_vec()),
        ("title is a number", json, b"{\"title\": 1, \"author\": \"A\"}".to_vec()),
        ("author is null", json, b"{\"title\": \"T\", \"author\": null}".to_vec()),
        ("author is an object", json, b"{\"title\": \"T\", \"author\": {}}".to_vec()),
        ("invalid UTF-8", json, b"{\"title\": \"\xff\xfe\", \"author\": \"A\"}".to_vec()),
        ("empty title", json, b"{\"title\": \"\", \"author\": \"A\"}".to_vec()),
    ]
}

/// Settings whose login lockout does not get in the way of tests that send many bad
/// credentials on purpose (the lockout has its own tests in throttling.rs).
fn generous_lockout() -> example_app::Settings {
    let throttle = auth_runtime::ThrottleConfig {
        login_failures: auth_runtime::throttling::Rate { num: 10_000, window: 60 },
        ..auth_runtime::ThrottleConfig::default()
    };
    example_app::Settings { throttle, ..example_app::Settings::default() }
}

db_test!(bad_book_bodies_are_400_for_staff_and_401_for_anonymous, settings = generous_lockout(), |app| {
    app.user("root", "pw", true).await;
    app.user("alice", "pw", false).await;
    for (what, ct, body) in bad_book_bodies() {
        let send = |auth: Option<String>| {
            let mut req = app.client.post(app.url("/api/books")).header("Content-Type", ct).body(body.clone());
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            req.send()
        };
        let res = send(Some(basic("root", "pw"))).await.unwrap();
        assert_eq!(res.status(), 400, "staff, {what}");
        assert_bad_request(res, what).await;
        let res = send(None).await.unwrap();
        assert_eq!(res.headers().get_all("www-authenticate").iter().count(), DEFAULT_CHALLENGES.len(), "{what}");
        assert_error(res, 401, "not_authenticated", &format!("anonymous, {what}")).await;
        let res = send(Some(basic("root", "wrong"))).await.unwrap();
        assert_error(res, 401, "authentication_failed", &format!("bad password, {what}")).await;
        let res = send(Some(basic("alice", "pw"))).await.unwrap();
        assert_error(res, 403, "permission_denied", &format!("non-staff, {what}")).await;
    }
    // A JSON body sent as text/plain is refused as well (never 5xx, never created).
    let res = app
        .client
        .post(app.url("/api/books"))
        .header("Authorization", basic("root", "pw"))
        .header("Content-Type", "text/plain")
        .body(r#"{"title": "T", "author": "A"}"#)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    let (status, _, list) = app.get("/api/books", Some(&basic("root", "pw"))).await;
    assert_eq!((status, list), (200, json!([])), "nothing was created");
});

db_test!(book_body_that_is_an_array_is_400, |app| {
    app.user("root", "pw", true).await;
    let res = app
        .client
        .post(app.url("/api/books"))
        .header("Authorization", basic("root", "pw"))
        .header("Content-Type", "application/json")
        .body(r#"["T", "A"]"#)
        .send()
        .await
        .unwrap();
    assert_bad_request(res, "a JSON array is not an object").await;
    let (_, _, list) = app.get("/api/books", Some(&basic("root", "pw"))).await;
    assert_eq!(list, json!([]), "nothing was created");
});

/// A valid book body of exactly `size` bytes (padded with an ignored field).
fn book_of_size(size: usize) -> Vec<u8> {
    let empty = br#"{"title":"T","author":"A","pad":""}"#.len();
    let body = format!(r#"{{"title":"T","author":"A","pad":"{}"}}"#, "x".repeat(size - empty));
    assert_eq!(body.len(), size);
    body.into_bytes()
}

db_test!(body_over_64_kib_is_413_for_staff_and_401_for_anonymous, |app| {
    app.user("root", "pw", true).await;
    let limit = 64 * 1024;
    let post = |auth: Option<String>, body: Vec<u8>| {
        let mut req = app.client.post(app.url("/api/books")).header("Content-Type", "application/json").body(body);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send()
    };
    // Exactly 64 KiB is accepted.
    let res = post(Some(basic("root", "pw")), book_of_size(limit)).await.unwrap();
    assert_eq!(res.status(), 201, "a body of exactly 64 KiB");
    for size in [limit + 1, 200 * 1024, 2 * 1024 * 1024] {
        let res = post(Some(basic("root", "pw")), book_of_size(size)).await.unwrap();
        assert_error(res, 413, "payload_too_large", &format!("staff, {size} bytes")).await;
        let res = post(None, book_of_size(size)).await.unwrap();
        assert_error(res, 401, "not_authenticated", &format!("anonymous, {size} bytes")).await;
    }
    let (status, _, list) = app.get("/api/books", Some(&basic("root", "pw"))).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "only the 64 KiB book was created");
});

db_test!(chunked_body_over_64_kib_is_413, |app| {
    app.user("root", "pw", true).await;
    // No Content-Length: the limit must hold while streaming.
    let body = book_of_size(100 * 1024);
    let mut request = format!(
        "POST /api/books HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        basic("root", "pw")
    )
    .into_bytes();
    for chunk in body.chunks(8192) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = raw(&app, request).await;
    assert_eq!(raw_status(&response), 413, "{}", &response[..response.len().min(500)]);
    assert!(response.contains("\"payload_too_large\""), "{response}");
    let (_, _, list) = app.get("/api/books", Some(&basic("root", "pw"))).await;
    assert_eq!(list, json!([]));
});

// ---------------------------------------------------------------------------------------
// Logins: POST /api/auth/token
// ---------------------------------------------------------------------------------------

db_test!(token_login_accepts_json_and_form, |app| {
    app.user("alice", "s3cret & co=1", false).await;
    let json_login =
        app.client.post(app.url("/api/auth/token")).json(&json!({"username": "alice", "password": "s3cret & co=1"}));
    let form_login =
        app.client.post(app.url("/api/auth/token")).form(&[("username", "alice"), ("password", "s3cret & co=1")]);
    let form_charset = app
        .client
        .post(app.url("/api/auth/token"))
        .header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
        .body("username=alice&password=s3cret+%26+co%3D1");
    for (what, req) in [("json", json_login), ("form", form_login), ("form with charset", form_charset)] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{what}");
        assert_eq!(res.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{what}: {body}");
        assert_eq!(body["expires_at"], Value::Null, "{what}");
        let token = body["token"].as_str().unwrap();
        let (status, _, me) = app.get("/api/whoami", Some(&format!("Token {token}"))).await;
        assert_eq!((status, me), (200, json!({"username": "alice", "scheme": "token"})), "{what}");
    }
});

db_test!(bad_logins_are_one_identical_400, |app| {
    app.user("alice", "right", false).await;
    create_user(
        &app.auth,
        NewUser { username: "ivan".into(), password: "right".into(), is_active: false, ..Default::default() },
    )
    .await
    .unwrap();
    let login = |username: &str, password: &str| {
        app.client.post(app.url("/api/auth/token")).json(&json!({"username": username, "password": password})).send()
    };
    let wrong_password = parts(login("alice", "wrong").await.unwrap()).await;
    let unknown_user = parts(login("nobody", "right").await.unwrap()).await;
    let inactive_user = parts(login("ivan", "right").await.unwrap()).await;
    let empty = parts(login("", "").await.unwrap()).await;
    assert_eq!(wrong_password.0, 400);
    assert_eq!(wrong_password.2["code"], "invalid_credentials");
    assert!(wrong_password.1.is_empty(), "a 400 carries no challenge");
    assert_eq!(unknown_user, wrong_password, "unknown user");
    assert_eq!(inactive_user, wrong_password, "inactive user");
    assert_eq!(empty, wrong_password, "empty credentials");
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .form(&[("username", "alice"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(parts(res).await, wrong_password, "form login");
    // No token was created by any of them.
    use sea_orm::{EntityTrait, PaginatorTrait};
    let count = auth_runtime::schemes::token::entity::Entity::find().count(app.auth.db()).await.unwrap();
    assert_eq!(count, 0);
});

db_test!(malformed_logins_are_400, |app| {
    app.user("alice", "pw", false).await;
    let json_cases: Vec<(&str, Vec<u8>)> = vec![
        ("missing password", br#"{"username": "alice"}"#.to_vec()),
        ("missing username", br#"{"password": "pw"}"#.to_vec()),
        ("empty object", b"{}".to_vec()),
        ("empty body", Vec::new()),
        ("not JSON", b"username=alice&password=pw".to_vec()),
        ("password is a number", br#"{"username": "alice", "password": 1}"#.to_vec()),
        ("username is null", br#"{"username": null, "password": "pw"}"#.to_vec()),
    ];
    for (what, body) in json_cases {
        let res = app
            .client
            .post(app.url("/api/auth/token"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_bad_request(res, what).await;
    }
    for (what, body) in [("form missing password", "username=alice"), ("form empty", ""), ("form garbage", "%%%")] {
        let res = app
            .client
            .post(app.url("/api/auth/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_bad_request(res, what).await;
    }
    let big = format!(r#"{{"username": "alice", "password": "{}"}}"#, "x".repeat(70 * 1024));
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "payload_too_large", "login body over 64 KiB").await;
});

// ---------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------

db_test!(login_body_that_is_an_array_is_400, |app| {
    app.user("alice", "pw", false).await;
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .header("Content-Type", "application/json")
        .body(r#"["alice", "pw"]"#)
        .send()
        .await
        .unwrap();
    assert_bad_request(res, "a JSON array is not an object").await;
});

db_test!(oversized_headers_are_4xx, |app| {
    app.user("alice", "pw", false).await;
    let huge = "a".repeat(100 * 1024);
    for name in ["X-Big", "Authorization", "Cookie"] {
        let value = if name == "Authorization" { format!("Token {huge}") } else { huge.clone() };
        let request =
            format!("GET /api/whoami HTTP/1.1\r\nHost: localhost\r\n{name}: {value}\r\nConnection: close\r\n\r\n");
        let response = raw(&app, request.into_bytes()).await;
        let status = raw_status(&response);
        assert!((400..500).contains(&status), "{name}: {}", &response[..response.len().min(300)]);
    }
    // Many headers, each small.
    let mut request = String::from("GET /api/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for i in 0..500 {
        request.push_str(&format!("X-H{i}: v\r\n"));
    }
    request.push_str("\r\n");
    let response = raw(&app, request.into_bytes()).await;
    let status = raw_status(&response);
    assert!((400..500).contains(&status), "many headers: {}", &response[..response.len().min(300)]);
    // The server is still fine afterwards.
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
    assert_eq!(status, 200);
});

/// The scheme a malformed value names, for the expected answer: `Some("basic")`,
/// `Some("token")` or `None` (no credentials of any known kind).
fn malformed_authorization_values() -> Vec<(Vec<u8>, Option<&'static str>)> {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let basic_of = |b: &[u8]| format!("Basic {}", b64(b)).into_bytes();
    let b = Some("basic");
    let t = Some("token");
    vec![
        (b"".to_vec(), None),
        (b" ".to_vec(), None),
        (b"Basic".to_vec(), b),
        (b"basic ".to_vec(), b),
        (b"Basic ===".to_vec(), b),
        (b"Basic !!!".to_vec(), b),
        (b"Basic a b".to_vec(), b),
        (b"Basic\tYTpi\tYTpi".to_vec(), b),
        (basic_of(b"nocolon"), b),
        (basic_of(b":"), b),
        (basic_of(b":pw"), b),
        (basic_of(b"alice:"), b),
        (basic_of(b"alice:wrong"), b),
        (basic_of(&[0xff, 0xfe, b':', b'x']), b),
        (basic_of(format!("{}:pw", "u".repeat(6000)).as_bytes()), b),
        (b"Basic \xff\xfe\xfd".to_vec(), b),
        (format!("Basic {}", "A".repeat(20_000)).into_bytes(), b),
        (b"Token".to_vec(), t),
        (b"TOKEN ".to_vec(), t),
        (b"Token a b".to_vec(), t),
        (b"Token abc".to_vec(), t),
        (format!("Token {}", "0".repeat(64)).into_bytes(), t),
        (format!("Token {}", "g".repeat(64)).into_bytes(), t),
        (format!("Token {}", "A".repeat(64)).into_bytes(), t),
        (format!("Token {}", "0".repeat(63)).into_bytes(), t),
        (format!("Token {}", "0".repeat(65)).into_bytes(), t),
        (format!("Token {}", "a".repeat(20_000)).into_bytes(), t),
        ([b"Token ".as_slice(), &[0xffu8; 64]].concat(), t),
        (b"Token\tabc".to_vec(), t),
        (b"Token \"abc\"".to_vec(), t),
        (b"Digest x".to_vec(), None),
        (b"Digest username=\"a\", realm=\"b\", nonce=\"c\"".to_vec(), None),
        (b"Bearer abc.def.ghi".to_vec(), Some("jwt")),
        (b"Bearer".to_vec(), None),
        (b"Negotiate YII=".to_vec(), None),
        (b"NTLM TlRMTVNTUAABAAAA".to_vec(), None),
        (b"Basicdm9vOmJhcg==".to_vec(), None),
        (format!("Token{}", "0".repeat(64)).into_bytes(), None),
        (b"\xff\xfe Basic".to_vec(), None),
        ("\u{e9}t\u{e9} abc".as_bytes().to_vec(), None),
        (b"\x80".to_vec(), None),
        (b",".to_vec(), None),
        (b"Basic, Token".to_vec(), None),
        ("x".repeat(20_000).into_bytes(), None),
    ]
}

db_test!(malformed_authorization_never_5xx, settings = generous_lockout(), |app| {
    app.user("alice", "pw", false).await;
    let values = malformed_authorization_values();
    assert!(values.len() >= 40);
    let routes: [(&str, &[&str], &[&str]); 3] = [
        ("/api/whoami", &["basic", "token", "jwt"], &DEFAULT_CHALLENGES),
        ("/api/token/whoami", &["token"], &["Token"]),
        ("/api/basic/whoami", &["basic"], &[BASIC]),
    ];
    for (path, chain, challenges) in routes {
        for (value, scheme) in &values {
            let what = format!("{path} with {:?}", String::from_utf8_lossy(&value[..value.len().min(60)]));
            let header = HeaderValue::from_bytes(value).unwrap_or_else(|e| panic!("{what}: {e}"));
            let res = app.client.get(app.url(path)).header("Authorization", header).send().await.unwrap();
            assert!(res.status().is_client_error(), "{what}: {}", res.status());
            let got: Vec<String> =
                res.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
            let mine = scheme.is_some_and(|s| chain.contains(&s));
            let code = if mine && *scheme == Some("jwt") {
                "token_not_valid"
            } else if mine {
                "authentication_failed"
            } else {
                "not_authenticated"
            };
            assert_error(res, 401, code, &what).await;
            if mine && *scheme == Some("jwt") {
                // The rejecting Bearer scheme's challenge carries the error (RFC 6750 section 3).
                let mut expected: Vec<String> = challenges.iter().map(|c| c.to_string()).collect();
                *expected.last_mut().unwrap() =
                    "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"Token is invalid.\"".into();
                assert_eq!(got, expected, "{what}");
            } else {
                assert_eq!(got, *challenges, "{what}");
            }
        }
    }
    // The server is still fine afterwards.
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
    assert_eq!(status, 200);
});

/// Basic credentials and logins whose username holds a NUL: a plain refusal, not a 5xx.
async fn nul_bytes_in_usernames(app: TestApp) {
    app.user("alice", "pw", false).await;
    use base64::Engine;
    let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("al\0ice:pw"));
    let res = app.client.get(app.url("/api/whoami")).header("Authorization", header).send().await.unwrap();
    assert_error(res, 401, "authentication_failed", "Basic with a NUL in the username").await;
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .json(&json!({"username": "al\u{0}ice", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_credentials", "login with a NUL in the username").await;
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .form(&[("username", "al\u{0}ice"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_credentials", "form login with a NUL in the username").await;
}

mod nul_bytes_in_usernames_are_refused_not_5xx {
    use super::*;

    #[actix_web::rt::test]
    async fn sqlite() {
        nul_bytes_in_usernames(TestApp::start(tests::Backend::Sqlite).await.unwrap()).await;
    }

    #[actix_web::rt::test]
    async fn postgres() {
        let Some(app) = TestApp::start(tests::Backend::Postgres).await else {
            return;
        };
        nul_bytes_in_usernames(app).await;
    }
}

/// A book whose title or author holds a NUL: 400 (or stored as sent), never a 5xx.
async fn nul_bytes_in_book_fields(app: TestApp) {
    app.user("root", "pw", true).await;
    for body in [json!({"title": "a\u{0}b", "author": "A"}), json!({"title": "T", "author": "\u{0}"})] {
        let res = app
            .client
            .post(app.url("/api/books"))
            .header("Authorization", basic("root", "pw"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!(status == 201 || status == 400, "{body}: {status} {}", res.text().await.unwrap());
        if status == 400 {
            assert_bad_request(res, &body.to_string()).await;
        }
    }
}

mod nul_bytes_in_book_fields_are_not_5xx {
    use super::*;

    #[actix_web::rt::test]
    async fn sqlite() {
        nul_bytes_in_book_fields(TestApp::start(tests::Backend::Sqlite).await.unwrap()).await;
    }

    #[actix_web::rt::test]
    async fn postgres() {
        let Some(app) = TestApp::start(tests::Backend::Postgres).await else {
            return;
        };
        nul_bytes_in_book_fields(app).await;
    }
}

db_test!(very_long_usernames_are_refused_not_5xx, |app| {
    app.user("alice", "pw", false).await;
    let long = "\u{e9}".repeat(5000);
    let res = app.client.get(app.url("/api/whoami")).header("Authorization", basic(&long, "pw")).send().await.unwrap();
    assert_error(res, 401, "authentication_failed", "Basic with a 5000-character username").await;
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .json(&json!({"username": long, "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_credentials", "login with a 5000-character username").await;
});

// ---------------------------------------------------------------------------------------
// Store faults: 503, never 401 and never anonymous
// ---------------------------------------------------------------------------------------

db_test!(health_is_ok, |app| {
    let res = app.client.get(app.url("/api/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok", "database": "ok"}));
});

db_test!(dropped_users_table_is_503_for_basic_and_token, |app| {
    app.user("alice", "pw", false).await;
    let token = app.token("alice", "pw").await;
    app.db.db.execute_unprepared("DROP TABLE users").await.unwrap();
    for path in ["/api/whoami", "/api/basic/whoami"] {
        let res = app.client.get(app.url(path)).header("Authorization", basic("alice", "pw")).send().await.unwrap();
        assert!(res.headers().get("www-authenticate").is_none(), "{path}");
        assert_error(res, 503, "service_unavailable", &format!("Basic on {path}")).await;
        // Unknown user and wrong password too: the store cannot say, so never a 401.
        let res = app.client.get(app.url(path)).header("Authorization", basic("nobody", "x")).send().await.unwrap();
        assert_error(res, 503, "service_unavailable", &format!("Basic nobody on {path}")).await;
    }
    for path in ["/api/whoami", "/api/token/whoami"] {
        let res = app.client.get(app.url(path)).header("Authorization", format!("Token {token}")).send().await.unwrap();
        assert_error(res, 503, "service_unavailable", &format!("Token on {path}")).await;
    }
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .json(&json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 503, "service_unavailable", "login").await;
    // Anonymous requests never touch the store: still the 401.
    let (status, challenges, _) = app.get("/api/whoami", None).await;
    assert_eq!((status, challenges), (401, DEFAULT_CHALLENGES.map(String::from).to_vec()));
});

db_test!(dropped_tokens_table_is_503_for_token, |app| {
    app.user("alice", "pw", false).await;
    let token = app.token("alice", "pw").await;
    app.db.db.execute_unprepared("DROP TABLE auth_tokens").await.unwrap();
    for path in ["/api/whoami", "/api/token/whoami"] {
        let res = app.client.get(app.url(path)).header("Authorization", format!("Token {token}")).send().await.unwrap();
        assert!(res.headers().get("www-authenticate").is_none(), "{path}");
        assert_error(res, 503, "service_unavailable", &format!("Token on {path}")).await;
        // A well-formed key that was never issued: the store cannot say either.
        let res = app
            .client
            .get(app.url(path))
            .header("Authorization", format!("Token {}", "0".repeat(64)))
            .send()
            .await
            .unwrap();
        assert_error(res, 503, "service_unavailable", &format!("unknown token on {path}")).await;
    }
    let res = app
        .client
        .delete(app.url("/api/auth/token"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_error(res, 503, "service_unavailable", "revoke").await;
    // Obtaining a token needs the table: 503 after a correct password.
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .json(&json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 503, "service_unavailable", "login").await;
    // Basic does not need the tokens table.
    let (status, _, body) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
    assert_eq!((status, body["scheme"].as_str()), (200, Some("basic")));
});

db_test!(closed_database_is_503_and_health_says_so, |app| {
    app.user("alice", "pw", false).await;
    let token = app.token("alice", "pw").await;
    app.db.db.close_by_ref().await.unwrap();
    let res = app.client.get(app.url("/api/health")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["database"], "unavailable", "{body}");
    let res =
        app.client.get(app.url("/api/whoami")).header("Authorization", basic("alice", "pw")).send().await.unwrap();
    assert_error(res, 503, "service_unavailable", "Basic").await;
    let res =
        app.client.get(app.url("/api/whoami")).header("Authorization", format!("Token {token}")).send().await.unwrap();
    assert_error(res, 503, "service_unavailable", "Token").await;
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .json(&json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 503, "service_unavailable", "login").await;
});

// Found by the adversarial review: a `text/plain` body (which browsers send cross-site without
// a preflight) must not pass for JSON on the login endpoints.
db_test!(login_bodies_need_a_json_or_form_content_type, |app| {
    app.user("alice", "pw", false).await;
    for path in ["/api/auth/token", "/api/auth/jwt/create"] {
        for ct in ["text/plain", "multipart/form-data; boundary=x", "application/xml"] {
            let res = app
                .client
                .post(app.url(path))
                .header("Content-Type", ct)
                .body(r#"{"username": "alice", "password": "pw"}"#)
                .send()
                .await
                .unwrap();
            assert_error(res, 400, "invalid_request", &format!("{path} as {ct}")).await;
        }
    }
});

// A form login without its CSRF field is refused for CSRF first, whatever else is missing.
db_test!(empty_form_logins_are_csrf_failures, |app| {
    for path in ["/api/auth/login", "/accounts/login"] {
        let res = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert_error(res, 403, "csrf_failed", path).await;
    }
});
