//! Property-based tests (proptest) of everything that parses client input: the public pure
//! functions (CSRF masking, the `next` check, rates, request bodies), JWTs decoded from
//! arbitrary or tampered strings, and the example app driven over real HTTP with arbitrary
//! `Authorization` headers, cookies and login bodies.
//!
//! The properties: no panic; no 5xx over HTTP, and a JSON body on every 4xx; round trips
//! where a formatter exists; no `next` accepted that leads off-site.
//!
//! Each HTTP property builds one app (SQLite) and runs every case against it, on a thread
//! of its own with its own runtime (proptest's runner is synchronous). The number of cases
//! is proptest's `PROPTEST_CASES` when set, else a small per-test default that keeps the
//! file fast in CI; run longer with e.g. `PROPTEST_CASES=100000 cargo test -p tests --test
//! properties`. The pure-function properties of private functions live next to them in
//! `auth-runtime` (`mod properties`).

use std::future::Future;

use auth_runtime::schemes::jwt::{self, TokenKind};
use auth_runtime::schemes::session::{mask, unmask};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tests::{Backend, TestApp, basic};

// ----------------------------------------------------------------------------------------
// Running properties
// ----------------------------------------------------------------------------------------

/// The number of cases: `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// proptest's configuration with [`cases`]`(default)` cases and no persistence file (a
/// failure prints its minimal input; keep it as a regression test).
fn config(default: u32) -> Config {
    Config { cases: cases(default), failure_persistence: None, ..Config::default() }
}

/// Runs a synchronous property on `cases(default)` inputs.
fn check<S: Strategy>(default: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    if let Err(e) = TestRunner::new(config(default)).run(&strategy, test) {
        panic!("{e}");
    }
}

/// Runs an asynchronous property on `cases(default)` inputs from the strategy `make` builds,
/// on a blocking thread with its own runtime, so the test's runtime keeps serving the app.
/// `test` gets a client that does not follow redirects.
async fn check_http<M, S, F, Fut>(default: u32, make: M, test: F)
where
    M: FnOnce() -> S + Send + 'static,
    S: Strategy,
    F: Fn(reqwest::Client, S::Value) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    tokio::task::spawn_blocking(move || {
        let strategy = make();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        if let Err(e) =
            TestRunner::new(config(default)).run(&strategy, |value| rt.block_on(test(client.clone(), value)))
        {
            panic!("{e}");
        }
    })
    .await
    .expect("the property panicked");
}

/// The example app on SQLite with one active user, `alice` / `correct horse`.
async fn app() -> (TestApp, auth_runtime::User) {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite app");
    let user = app.user("alice", "correct horse", false).await;
    (app, user)
}

/// What every response must be: below 500, and on a 4xx a JSON body (`html_ok`: except the
/// HTML pages a route answers with by design). Returns the status, `Location` and body.
async fn well_formed(
    res: reqwest::Response,
    what: &str,
    html_ok: bool,
) -> Result<(u16, Option<String>, String), TestCaseError> {
    let status = res.status().as_u16();
    let header = |name: &str| res.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let content_type = header("content-type").unwrap_or_default();
    let location = header("location");
    let body = res.text().await.map_err(|e| TestCaseError::fail(format!("{what}: reading the body: {e}")))?;
    prop_assert!(status < 500, "{what}: {status} {body}");
    if (400..500).contains(&status) && !(html_ok && content_type.starts_with("text/html")) {
        prop_assert!(
            content_type.starts_with("application/json") && serde_json::from_str::<serde_json::Value>(&body).is_ok(),
            "{what}: {status} without a JSON body: {content_type:?} {body:?}"
        );
    }
    Ok((status, location, body))
}

/// Bytes a client can put in a header value (visible ASCII, tab, obs-text).
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![8 => 0x20u8..0x7f, 1 => 0x80u8..=0xff, 1 => Just(b'\t')], 0..max)
}

/// base64 (standard) of any bytes.
fn base64_of(bytes: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = String> {
    use base64::Engine;
    bytes.prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

/// base64url without padding of any bytes.
fn base64url_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

// ----------------------------------------------------------------------------------------
// CSRF tokens
// ----------------------------------------------------------------------------------------

/// A masked token unmasks to its secret, whatever the secret; masking is fresh each time.
#[test]
fn csrf_mask_round_trips() {
    check(256, any::<[u8; 32]>(), |secret| {
        let token = mask(&secret);
        prop_assert_eq!(token.len(), 86);
        prop_assert_eq!(unmask(&token), Some(secret));
        let padded = format!(" {token}\t");
        prop_assert_eq!(unmask(&padded), Some(secret), "surrounding whitespace is ignored");
        Ok(())
    });
}

/// Any string unmasks to a secret or `None`, never a panic; exactly the base64url encodings
/// of 64 bytes unmask.
#[test]
fn csrf_unmask_never_panics() {
    let strategy = prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{80,90}",
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| base64url_of(&b)),
    ];
    check(512, strategy, |token| {
        let decoded = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()).ok()
        };
        prop_assert_eq!(unmask(&token).is_some(), decoded.is_some_and(|d| d.len() == 64));
        Ok(())
    });
}

// ----------------------------------------------------------------------------------------
// The `next` parameter
// ----------------------------------------------------------------------------------------

/// `next` values an attacker would try, and arbitrary text.
fn next_values() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "/",
        "//",
        "///",
        "/\\",
        "\\",
        "\\\\",
        "/%2F",
        "/%2f/",
        "%2F%2F",
        "/\t/",
        "/\n/",
        "/\r/",
        " /",
        " //",
        "\t//",
        "https:",
        "https://",
        "http:/",
        "javascript:",
        "data:",
        "/./",
        "/../",
        "/.//",
        "/%09/",
        "/%5C",
        "/\u{3000}/",
        "/\u{ff0f}",
        "\u{2215}\u{2215}",
        "/\u{0}/",
        "/\u{7f}/",
        "/\u{85}/",
        "/\u{2028}/",
        "",
        "//\\",
        "/\\/",
        "/@",
        "/?",
        "/#",
    ]);
    let host = prop::sample::select(vec!["evil.example", "site.example", "@evil.example", "evil.example:443", ""]);
    let rest = "[ -~]{0,12}";
    prop_oneof![
        3 => (prefix, host, rest).prop_map(|(p, h, r)| format!("{p}{h}{r}")),
        1 => any::<String>(),
        1 => "/[ -~]{0,20}",
    ]
}

/// True when `location`, resolved as a browser would against `https://site.example/`, stays
/// on `https://site.example`.
fn stays_on_site(location: &str) -> bool {
    let base = url::Url::parse("https://site.example/login").expect("base");
    base.join(location).is_ok_and(|u| u.origin() == base.origin())
}

/// Any accepted `next` stays on the site, and the form's own paths are accepted.
#[test]
fn accepted_next_stays_on_site() {
    use auth_runtime::schemes::session::endpoints::is_safe_next;
    check(2048, next_values(), |next| {
        if is_safe_next(&next) {
            prop_assert!(stays_on_site(&next), "{next:?} is accepted but leaves the site");
        }
        Ok(())
    });
    let paths = "([a-zA-Z0-9._~-]{1,10}/){0,3}[a-zA-Z0-9._~-]{0,10}(\\?[a-z]{1,5}=[a-zA-Z0-9/]{0,8})?";
    check(512, paths.prop_map(|p| format!("/{p}")), |path| {
        prop_assert!(is_safe_next(&path), "{path:?}");
        Ok(())
    });
}

/// Over HTTP: the login page keeps only a safe `next`, and a successful form login redirects
/// to a `Location` that stays on the site.
#[actix_web::rt::test]
async fn login_redirects_stay_on_site() {
    let (app, _) = app().await;
    let base = app.base.clone();
    check_http(24, next_values, move |client, next| {
        let base = base.clone();
        async move {
            // The page, its CSRF token and the session that holds the secret.
            let res = client.get(format!("{base}/accounts/login")).query(&[("next", &next)]).send().await;
            let res = res.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let cookies: Vec<String> = res
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
                .collect();
            let (status, _, page) = well_formed(res, "GET /accounts/login", true).await?;
            prop_assert_eq!(status, 200);
            let token = page
                .split("name=\"csrfmiddlewaretoken\" value=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .ok_or_else(|| TestCaseError::fail("no CSRF field"))?
                .to_owned();
            let res = client
                .post(format!("{base}/accounts/login"))
                .header("Cookie", cookies.join("; "))
                .form(&[
                    ("csrfmiddlewaretoken", token.as_str()),
                    ("username", "alice"),
                    ("password", "correct horse"),
                    ("next", next.as_str()),
                ])
                .send()
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (status, location, body) = well_formed(res, "POST /accounts/login", true).await?;
            prop_assert_eq!(status, 302, "{}", body);
            let location = location.ok_or_else(|| TestCaseError::fail("no Location"))?;
            prop_assert!(stays_on_site(&location), "{next:?} redirected to {location:?}");
            Ok(())
        }
    })
    .await;
    app.stop().await;
}

// ----------------------------------------------------------------------------------------
// Rates
// ----------------------------------------------------------------------------------------

/// Rates in the settings (strings): parsed and written back as the same rate.
#[test]
fn rates_round_trip_through_serde() {
    use auth_runtime::ThrottleConfig;
    check(256, "[0-9]{1,6}/[0-9]{0,4}(s|sec|m|min|h|hour|d|day|x)", |rate| {
        let parsed = serde_json::from_value::<ThrottleConfig>(serde_json::json!({ "anon": rate }));
        prop_assert_eq!(parsed.is_ok(), rate.parse::<auth_runtime::throttling::Rate>().is_ok());
        if let Ok(config) = parsed {
            let again: ThrottleConfig =
                serde_json::from_value(serde_json::to_value(&config).expect("serialise")).expect("parse");
            prop_assert_eq!(again, config);
        }
        Ok(())
    });
}

// ----------------------------------------------------------------------------------------
// Request bodies (JsonOrForm)
// ----------------------------------------------------------------------------------------

/// Content types a client may send with a login body.
fn content_types() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/merge-patch+json",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
        "application/",
        "+json",
    ])
}

/// Arbitrary JSON values, up to a few levels deep.
fn json_values() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(login_keys(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names of the login and token bodies, and others.
fn login_keys() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "username", "password", "next", "refresh", "token", "csrfmiddlewaretoken", "grant_type", "client_id",
            "client_secret", "scope", "code", "redirect_uri", "code_verifier",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A login-ish body: raw bytes, a JSON value, a JSON object of login fields, or a form.
fn bodies() -> impl Strategy<Value = Vec<u8>> {
    let string_fields = || proptest::collection::vec((login_keys(), any::<String>()), 0..5);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        json_values().prop_map(|v| v.to_string().into_bytes()),
        string_fields().prop_map(|f| serde_json::Value::Object(
            f.into_iter().map(|(k, v)| (k, serde_json::Value::from(v))).collect()
        )
        .to_string()
        .into_bytes()),
        string_fields().prop_map(|f| serde_urlencoded::to_string(f).expect("form").into_bytes()),
        "([a-z_%+&=]|%[0-9a-fA-F]{0,2}){0,60}".prop_map(String::into_bytes),
    ]
}

/// `JsonOrForm` itself: any content type and body gives a value, 400 or 413, never a panic;
/// and a login serialised as JSON or as a form decodes back to the same fields.
#[actix_web::rt::test]
async fn json_or_form_decodes_or_answers_400() {
    use actix_web::{FromRequest, ResponseError};
    use auth_runtime::endpoints::LoginRequest;
    use auth_runtime::http::JsonOrForm;

    fn extract(content_type: &str, body: Vec<u8>) -> Result<LoginRequest, auth_runtime::AuthError> {
        let mut req = actix_web::test::TestRequest::post();
        if !content_type.is_empty() {
            req = req.insert_header(("Content-Type", content_type));
        }
        let (req, mut payload) = req.set_payload(body).to_http_parts();
        futures_util::FutureExt::now_or_never(JsonOrForm::<LoginRequest>::from_request(&req, &mut payload))
            .expect("a payload in memory is read at once")
            .map(|b| b.0)
    }

    check(512, (content_types(), bodies()), |(content_type, body)| {
        if let Err(e) = extract(content_type, body) {
            prop_assert!(matches!(e.status_code().as_u16(), 400 | 413), "{e:?}");
        }
        Ok(())
    });
    check(256, (any::<String>(), any::<String>(), any::<bool>()), |(username, password, form)| {
        let fields = [("username", username.as_str()), ("password", password.as_str())];
        let (content_type, body) = if form {
            ("application/x-www-form-urlencoded", serde_urlencoded::to_string(fields).expect("form").into_bytes())
        } else {
            (
                "application/json",
                serde_json::json!({"username": username, "password": password}).to_string().into_bytes(),
            )
        };
        let login = extract(content_type, body).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!((login.username, login.password), (username, password));
        Ok(())
    });
}

/// `GET /api/auth/csrf`: the cookies it sets, as a `Cookie` header value, and the token.
async fn csrf(app: &TestApp) -> (String, String) {
    let res = app.client.get(app.url("/api/auth/csrf")).send().await.expect("csrf");
    let cookies = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    let body: serde_json::Value = res.json().await.expect("json");
    (cookies, body["csrf_token"].as_str().expect("token").to_owned())
}

/// The login endpoints over HTTP: any content type and body, with or without a valid CSRF
/// token: below 500, JSON on every 4xx (the HTML form's pages aside).
#[actix_web::rt::test]
async fn login_endpoints_answer_any_body() {
    let (app, _) = app().await;
    // One valid session and CSRF token, so that bodies get past the CSRF check too.
    let (cookie, token) = csrf(&app).await;
    let routes = prop::sample::select(vec![
        "/api/auth/token",
        "/api/auth/login",
        "/accounts/login",
        "/api/auth/jwt/create",
        "/api/auth/jwt/refresh",
        "/api/auth/jwt/verify",
        "/api/auth/jwt/blacklist",
        "/api/auth/jwt/sliding/create",
        "/api/auth/jwt/sliding/refresh",
        "/o/token",
        "/o/revoke_token",
        "/o/introspect",
        "/o/authorize",
    ]);
    let base = app.base.clone();
    check_http(
        96,
        move || (routes, content_types(), bodies(), 0..3u8),
        move |client, (route, content_type, body, csrf)| {
            let (base, cookie, token) = (base.clone(), cookie.clone(), token.clone());
            async move {
                let mut req = client.post(format!("{base}{route}")).body(body);
                if !content_type.is_empty() {
                    req = req.header("Content-Type", content_type);
                }
                // 0: no CSRF; 1: the session and the header; 2: the session alone.
                if csrf > 0 {
                    req = req.header("Cookie", &cookie);
                }
                if csrf == 1 {
                    req = req.header("X-CSRFToken", &token);
                }
                let res = req.send().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                well_formed(res, route, route == "/accounts/login").await?;
                Ok(())
            }
        },
    )
    .await;
    app.stop().await;
}

// ----------------------------------------------------------------------------------------
// The Authorization header
// ----------------------------------------------------------------------------------------

/// `Authorization` values: a known or arbitrary scheme, then credentials of every shape the
/// schemes look for, or arbitrary bytes.
fn authorization_values() -> impl Strategy<Value = Vec<u8>> {
    let scheme = prop_oneof![
        4 => prop::sample::select(vec!["Basic", "basic", "BASIC", "Token", "token", "Bearer", "bearer", "Digest", ""])
            .prop_map(str::to_owned),
        1 => "[!-~]{1,10}",
    ];
    let credentials = prop_oneof![
        header_bytes(120).prop_map(|b| b),
        base64_of(proptest::collection::vec(any::<u8>(), 0..60)).prop_map(String::into_bytes),
        (any::<String>(), any::<String>()).prop_map(|(u, p)| basic(&u, &p).split_off(6).into_bytes()),
        "[0-9a-f]{60,68}".prop_map(String::into_bytes),
        "[A-Za-z0-9_-]{41,45}".prop_map(String::into_bytes),
        "[A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{1,60}\\.[A-Za-z0-9_-]{0,40}".prop_map(String::into_bytes),
        (json_values(), json_values(), "[A-Za-z0-9_-]{0,20}").prop_map(|(h, c, s)| {
            format!("{}.{}.{s}", base64url_of(h.to_string().as_bytes()), base64url_of(c.to_string().as_bytes()))
                .into_bytes()
        }),
    ];
    let separator = prop::sample::select(vec![" ", "  ", "\t", "", " x "]);
    (scheme, separator, credentials).prop_map(|(scheme, sep, credentials)| {
        let mut value = format!("{scheme}{sep}").into_bytes();
        value.extend(credentials);
        value
    })
}

/// The routes a credential may be sent to, with their method.
fn authenticated_routes() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop::sample::select(vec![
        ("GET", "/api/whoami"),
        ("GET", "/api/basic/whoami"),
        ("GET", "/api/token/whoami"),
        ("GET", "/api/session/whoami"),
        ("GET", "/api/jwt/whoami"),
        ("GET", "/api/oauth2/whoami"),
        ("GET", "/api/books"),
        ("POST", "/api/books"),
        ("GET", "/api/admin/users"),
        ("DELETE", "/api/auth/token"),
        ("DELETE", "/api/auth/tokens"),
        ("POST", "/api/auth/logout"),
        ("POST", "/o/token"),
        ("POST", "/o/introspect"),
        ("POST", "/o/revoke_token"),
        ("GET", "/o/authorize"),
    ])
}

/// Any `Authorization` header (one or two of them) on any protected route: below 500, JSON
/// on every 4xx.
#[actix_web::rt::test]
async fn any_authorization_header_is_answered() {
    let (app, _) = app().await;
    let base = app.base.clone();
    let strategy =
        || (authenticated_routes(), authorization_values(), proptest::option::weighted(0.1, header_bytes(40)));
    check_http(160, strategy, move |client, ((method, route), value, second)| {
        let base = base.clone();
        async move {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let value = reqwest::header::HeaderValue::from_bytes(&value).expect("header bytes");
            let mut req = client.request(method, format!("{base}{route}")).header("Authorization", value);
            if let Some(second) = second {
                req = req.header("Authorization", reqwest::header::HeaderValue::from_bytes(&second).expect("bytes"));
            }
            if route.starts_with("/o/") {
                req = req
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials&token=x");
            } else if route == "/api/books" {
                req = req.json(&serde_json::json!({"title": "t", "author": "a"}));
            }
            let res = req.send().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            well_formed(res, route, false).await?;
            Ok(())
        }
    })
    .await;
    app.stop().await;
}

// ----------------------------------------------------------------------------------------
// Cookies
// ----------------------------------------------------------------------------------------

/// Any `Cookie` header (arbitrary bytes, or `sessionid`/`csrftoken` with arbitrary values or
/// edits of a real session cookie), with an arbitrary `X-CSRFToken`, on the session routes:
/// below 500, JSON on every 4xx.
#[actix_web::rt::test]
async fn any_cookie_is_answered() {
    let (app, _) = app().await;
    // A real logged-in session to edit.
    let (jar, token) = csrf(&app).await;
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .header("Cookie", &jar)
        .header("X-CSRFToken", &token)
        .json(&serde_json::json!({"username": "alice", "password": "correct horse"}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), 200);
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next()?.strip_prefix("sessionid=").map(str::to_owned))
        .next()
        .expect("sessionid");
    let base = app.base.clone();
    let strategy = move || {
        let edited_session =
            (any::<prop::sample::Index>(), "[ -~]{0,3}", any::<bool>()).prop_map(move |(i, insert, cut)| {
                let at = i.index(session.len() + 1);
                if cut { session[..at].to_owned() } else { format!("{}{insert}{}", &session[..at], &session[at..]) }
            });
        let value = || header_bytes(60).prop_map(|b| String::from_utf8_lossy(&b).replace(['\u{fffd}', ';'], ""));
        let cookie = prop_oneof![
            header_bytes(150),
            (edited_session, value()).prop_map(|(s, c)| format!("sessionid={s}; csrftoken={c}").into_bytes()),
            (value(), value()).prop_map(|(s, c)| format!("sessionid={s}; csrftoken={c}").into_bytes()),
            (value(), value()).prop_map(|(k, v)| format!("{k}={v}; sessionid=; sessionid={v}").into_bytes()),
        ];
        let routes = prop::sample::select(vec![
            ("GET", "/api/whoami"),
            ("GET", "/api/session/whoami"),
            ("POST", "/api/books"),
            ("GET", "/api/auth/csrf"),
            ("POST", "/api/auth/login"),
            ("POST", "/api/auth/logout"),
            ("GET", "/accounts/login"),
            ("GET", "/o/authorize"),
            ("POST", "/o/authorize"),
        ]);
        (routes, cookie, proptest::option::of(header_bytes(100)))
    };
    check_http(160, strategy, move |client, ((method, route), cookie, csrf)| {
        let base = base.clone();
        async move {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let cookie = reqwest::header::HeaderValue::from_bytes(&cookie).expect("cookie bytes");
            let mut req = client.request(method, format!("{base}{route}")).header("Cookie", cookie);
            if let Some(csrf) = csrf {
                req = req.header("X-CSRFToken", reqwest::header::HeaderValue::from_bytes(&csrf).expect("bytes"));
            }
            if route == "/api/auth/login" || route == "/api/books" {
                req = req
                    .json(&serde_json::json!({"username": "alice", "password": "wrong", "title": "t", "author": "a"}));
            }
            let res = req.send().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            well_formed(res, route, route == "/accounts/login" || route == "/o/authorize").await?;
            Ok(())
        }
    })
    .await;
    app.stop().await;
}

// ----------------------------------------------------------------------------------------
// JWTs
// ----------------------------------------------------------------------------------------

/// One edit of a token's text.
#[derive(Debug, Clone)]
enum TokenEdit {
    /// Replace the character at a position by another base64url character or a dot.
    Replace(prop::sample::Index, char),
    /// Drop everything from a position.
    Truncate(prop::sample::Index),
    /// Replace one segment (0 header, 1 claims, 2 signature) by base64url of arbitrary JSON.
    Segment(usize, serde_json::Value),
    /// Use the other token's segment at this position.
    Splice(usize),
    /// Put `alg: none` in the header and drop the signature.
    AlgNone,
}

fn token_edits() -> impl Strategy<Value = Vec<TokenEdit>> {
    let char = prop::sample::select("AZaz09-_.+/=".chars().collect::<Vec<_>>());
    let edit = prop_oneof![
        4 => (any::<prop::sample::Index>(), char).prop_map(|(i, c)| TokenEdit::Replace(i, c)),
        1 => any::<prop::sample::Index>().prop_map(TokenEdit::Truncate),
        2 => (0..3usize, json_values()).prop_map(|(i, v)| TokenEdit::Segment(i, v)),
        1 => (0..3usize).prop_map(TokenEdit::Splice),
        1 => Just(TokenEdit::AlgNone),
    ];
    proptest::collection::vec(edit, 1..3)
}

fn apply_edit(token: &str, other: &str, edit: &TokenEdit) -> String {
    let mut segments: Vec<String> = token.split('.').map(str::to_owned).collect();
    match edit {
        TokenEdit::Replace(i, c) => {
            let at = i.index(token.len().max(1));
            token.char_indices().map(|(j, x)| if j == at { *c } else { x }).collect()
        }
        TokenEdit::Truncate(i) => token[..i.index(token.len().max(1))].to_owned(),
        TokenEdit::Segment(i, value) => {
            if let Some(s) = segments.get_mut(*i) {
                *s = base64url_of(value.to_string().as_bytes());
            }
            segments.join(".")
        }
        TokenEdit::Splice(i) => {
            if let (Some(s), Some(o)) = (segments.get_mut(*i), other.split('.').nth(*i)) {
                *s = o.to_owned();
            }
            segments.join(".")
        }
        TokenEdit::AlgNone => {
            if let Some(s) = segments.get_mut(0) {
                *s = base64url_of(br#"{"alg":"none","typ":"at+jwt"}"#);
            }
            if let Some(s) = segments.get_mut(2) {
                s.clear();
            }
            segments.join(".")
        }
    }
}

/// Tampered tokens never verify (any edit of the text of a signed token is refused), and
/// arbitrary strings are refused without a panic; over HTTP both are 401, never 5xx.
#[actix_web::rt::test]
async fn tampered_jwts_never_verify() {
    let (app, user) = app().await;
    let pair = jwt::issue_pair(&app.auth, &user, None).await.expect("tokens");
    let all = [TokenKind::Access, TokenKind::Refresh, TokenKind::Sliding];
    assert!(jwt::verify(&app.auth, &pair.access, &all, true).is_ok());
    assert!(jwt::verify(&app.auth, &pair.refresh, &all, true).is_ok());

    let auth = app.auth.clone();
    let (access, refresh) = (pair.access.clone(), pair.refresh.clone());
    check(512, (any::<bool>(), token_edits()), |(use_refresh, edits)| {
        let (token, other) = if use_refresh { (&refresh, &access) } else { (&access, &refresh) };
        let tampered = edits.iter().fold(token.clone(), |t, e| apply_edit(&t, other, e));
        if tampered != *token && tampered != *other {
            prop_assert!(jwt::verify(&auth, &tampered, &all, true).is_err(), "{tampered} verified");
        }
        Ok(())
    });
    check(512, prop_oneof![any::<String>(), "[A-Za-z0-9_.-]{0,200}"], |s| {
        if s != access && s != refresh {
            prop_assert!(jwt::verify(&auth, &s, &all, false).is_err());
        }
        Ok(())
    });

    let base = app.base.clone();
    let (access, refresh) = (pair.access, pair.refresh);
    check_http(
        48,
        || (any::<bool>(), token_edits()),
        move |client, (as_body, edits)| {
            let tampered = edits.iter().fold(access.clone(), |t, e| apply_edit(&t, &refresh, e));
            let base = base.clone();
            let unchanged = tampered == access || tampered == refresh;
            async move {
                let req = if as_body {
                    client.post(format!("{base}/api/auth/jwt/verify")).json(&serde_json::json!({ "token": tampered }))
                } else {
                    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {tampered}"));
                    let value = value.map_err(|e| TestCaseError::reject(e.to_string()))?;
                    client.get(format!("{base}/api/jwt/whoami")).header("Authorization", value)
                };
                let res = req.send().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                let (status, _, body) = well_formed(res, "a tampered JWT", false).await?;
                if !unchanged {
                    prop_assert!(status == 401, "{tampered}: {status} {body}");
                }
                Ok(())
            }
        },
    )
    .await;
    app.stop().await;
}

// ----------------------------------------------------------------------------------------
// OAuth2 redirect URIs over HTTP
// ----------------------------------------------------------------------------------------

/// Redirect URIs near the registered ones: edits an attacker would try, and arbitrary text.
fn requested_redirects(registered: Vec<&'static str>) -> impl Strategy<Value = String> {
    let base = prop::sample::select(registered);
    let edit = prop::sample::select(vec![
        "",
        ":0",
        ":8080",
        ":65535",
        ":65536",
        ":080",
        "@evil.example",
        ".evil.example",
        "/",
        "/x",
        "?x=1",
        "#f",
        "%2F..",
        "\\evil.example",
        "/../cb",
        ":1@evil.example",
    ]);
    let host = prop::sample::select(vec!["", "localhost", "127.0.0.2", "[::1]", "evil.example", "127.1"]);
    prop_oneof![
        4 => (base.clone(), edit.clone()).prop_map(|(b, e)| format!("{b}{e}")),
        2 => (base.clone(), edit, any::<prop::sample::Index>()).prop_map(|(b, e, i)| {
            // The edit inside the authority, after the host.
            let start = b.find("://").map_or(0, |i| i + 3);
            let end = b[start..].find('/').map_or(b.len(), |j| start + j);
            let at = start + i.index(end - start + 1);
            format!("{}{e}{}", &b[..at], &b[at..])
        }),
        2 => (base, host).prop_map(|(b, h)| {
            let start = b.find("://").map_or(0, |i| i + 3);
            let end = b[start..].find(['/', ':']).map_or(b.len(), |j| start + j);
            if h.is_empty() { b.to_owned() } else { format!("{}{h}{}", &b[..start], &b[end..]) }
        }),
        1 => "[ -~]{0,40}",
    ]
}

/// `/o/authorize` sends the browser (and the code or the error) only to a registered redirect
/// URI or its loopback variant on another port (the oracle reads both with the `url` crate);
/// any other is refused with a 400 in JSON.
#[actix_web::rt::test]
async fn authorize_redirects_only_to_registered_uris() {
    use auth_runtime::schemes::oauth2::{GrantType, NewApplication, create_application};
    let (app, _) = app().await;
    let registered =
        vec!["https://client.example/cb", "http://127.0.0.1/cb", "http://[::1]:8000/native", "com.example.app:/cb"];
    let client = create_application(
        &app.auth,
        NewApplication {
            name: "property".into(),
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: registered.iter().map(|s| (*s).to_owned()).collect(),
            public: true,
            scopes: Vec::new(),
            owner_id: None,
        },
    )
    .await
    .expect("client")
    .record
    .client_id;
    let base = app.base.clone();
    let set = registered.clone();
    check_http(
        96,
        move || (requested_redirects(set), any::<bool>()),
        move |http, (redirect_uri, complete)| {
            let (base, client, registered) = (base.clone(), client.clone(), registered.clone());
            async move {
                // Complete requests go on to the login; incomplete ones are refused to the client.
                let mut query = vec![("client_id", client.as_str()), ("redirect_uri", redirect_uri.as_str())];
                if complete {
                    query.extend([
                        ("response_type", "code"),
                        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                        ("code_challenge_method", "S256"),
                    ]);
                }
                let res = http.get(format!("{base}/o/authorize")).query(&query).send().await;
                let res = res.map_err(|e| TestCaseError::fail(e.to_string()))?;
                let (status, location, body) = well_formed(res, "GET /o/authorize", false).await?;
                let allowed = registered.iter().any(|r| {
                    *r == redirect_uri || {
                        let (a, b) = (url::Url::parse(r), url::Url::parse(&redirect_uri));
                        matches!((a, b), (Ok(a), Ok(b)) if a.scheme() == "http" && b.scheme() == "http"
                            && a.host() == b.host() && b.username().is_empty() && b.password().is_none()
                            && a.path() == b.path() && a.query() == b.query() && b.fragment().is_none()
                            && matches!(a.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))))
                    }
                });
                match status {
                    302 => {
                        let location = location.ok_or_else(|| TestCaseError::fail("no Location"))?;
                        if !location.starts_with("/accounts/login?") {
                            prop_assert!(allowed, "{redirect_uri:?} accepted, sent to {location:?}");
                            prop_assert!(location.starts_with(&redirect_uri), "{location:?} for {redirect_uri:?}");
                        } else {
                            prop_assert!(allowed, "{redirect_uri:?} accepted");
                        }
                    }
                    // Refused before the redirect URI is trusted (stricter than the oracle:
                    // `:080` and `:0` are refused too).
                    _ => prop_assert_eq!(status, 400, "{}", body),
                }
                Ok(())
            }
        },
    )
    .await;
    app.stop().await;
}

// ----------------------------------------------------------------------------------------
// JWT claims behind a valid signature
// ----------------------------------------------------------------------------------------

/// A claim value of any type, near `now` for numbers.
fn claim_value(now: i64) -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        (-100_000i64..100_000).prop_map(move |d| serde_json::Value::from(now + d)),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop::sample::select(vec!["access", "refresh", "sliding", "1", "2", "-1", "99999999999999999999", "alice", ""])
            .prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        Just(serde_json::json!([1])),
        Just(serde_json::json!({"a": 1})),
    ]
}

/// A header (`typ`, `alg`, `kid`) and claims of any shape, as a key holder could sign them.
fn signed_parts(now: i64) -> impl Strategy<Value = (Option<&'static str>, jsonwebtoken::Algorithm, serde_json::Value)> {
    let names = ["token_type", "jti", "iat", "exp", "nbf", "user_id", "refresh_exp", "aud", "iss"];
    let claims = proptest::collection::vec(proptest::option::weighted(0.8, claim_value(now)), names.len()).prop_map(
        move |values| {
            serde_json::Value::Object(
                names.iter().zip(values).filter_map(|(n, v)| Some(((*n).to_owned(), v?))).collect(),
            )
        },
    );
    let typ = prop::sample::select(vec![
        Some("at+jwt"),
        Some("AT+JWT"),
        Some("refresh+jwt"),
        Some("sliding+jwt"),
        Some("JWT"),
        None,
    ]);
    let alg = prop::sample::select(vec![
        jsonwebtoken::Algorithm::HS256,
        jsonwebtoken::Algorithm::HS384,
        jsonwebtoken::Algorithm::HS512,
    ]);
    (typ, alg, claims)
}

/// Tokens signed with the app's own key but carrying any header and claims: `verify`
/// accepts only well-typed, current tokens of the allowed algorithm, and every JWT endpoint
/// answers below 500 (JSON on every 4xx).
#[actix_web::rt::test]
async fn signed_tokens_with_any_claims() {
    let (app, user) = app().await;
    let key = jsonwebtoken::EncodingKey::from_secret(app.auth.secret_key().as_bytes()).expect("key");
    let sign = move |(typ, alg, claims): &(Option<&'static str>, jsonwebtoken::Algorithm, serde_json::Value)| {
        let mut header = jsonwebtoken::Header::new(*alg);
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    };
    let now = chrono::Utc::now().timestamp();
    let all = [TokenKind::Access, TokenKind::Refresh, TokenKind::Sliding];
    let auth = app.auth.clone();
    let sign_here = sign.clone();
    check(512, signed_parts(now), |parts| {
        let token = sign_here(&parts);
        let clock = || u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970");
        let before = clock();
        let verified = jwt::verify(&auth, &token, &all, true);
        let after = clock();
        if let Ok(v) = verified {
            prop_assert_eq!(parts.1, jsonwebtoken::Algorithm::HS256);
            prop_assert_eq!(v.claims.get("token_type").and_then(|t| t.as_str()), Some(v.kind.claim()));
            prop_assert!(parts.0.is_some_and(|t| t.eq_ignore_ascii_case(v.kind.typ())));
            prop_assert!(!v.jti.is_empty());
            prop_assert!(v.iat <= after + 1 && v.exp >= before, "iat {} exp {} now {before}", v.iat, v.exp);
        }
        Ok(())
    });

    let base = app.base.clone();
    let user_id = user.id.to_string();
    let routes = vec!["/api/jwt/whoami", "/api/auth/jwt/verify", "/api/auth/jwt/refresh", "/api/auth/jwt/blacklist"];
    check_http(
        64,
        move || (signed_parts(now), prop::sample::select(routes), any::<bool>()),
        move |client, (mut parts, route, as_user)| {
            if as_user && let Some(claims) = parts.2.as_object_mut() {
                claims.insert("user_id".into(), user_id.clone().into());
            }
            let token = sign(&parts);
            let base = base.clone();
            async move {
                let req = if route == "/api/jwt/whoami" {
                    client.get(format!("{base}{route}")).header("Authorization", format!("Bearer {token}"))
                } else {
                    client.post(format!("{base}{route}")).json(&serde_json::json!({ "token": token, "refresh": token }))
                };
                let res = req.send().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                well_formed(res, route, false).await?;
                Ok(())
            }
        },
    )
    .await;
    app.stop().await;
}
