//! `#[throttle(...)]` over real HTTP: a handler's own throttles replace the settings'
//! defaults (`AnonRate` and `UserRate`), `#[throttle()]` means none, scopes and users have
//! their own counters, and a throttled request is 429 `throttled` with `Retry-After`.

use actix_web::{HttpResponse, web};
use auth_runtime::throttling::Rate;
use auth_runtime::{MaybePrincipal, Principal, ThrottleConfig, authentication, permission, throttle};
use serde_json::{Value, json};
use tests::{TestApp, basic, db_test};

fn who(p: &MaybePrincipal) -> Value {
    json!({"user": p.0.as_ref().and_then(|p| p.username())})
}

/// The default permission (`IsAuthenticated`) and chain, and the scope `burst` only.
#[throttle(Scoped("burst"))]
async fn burst(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

/// Open to anonymous clients and never throttled.
#[permission(AllowAny)]
#[throttle()]
async fn unthrottled(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

/// Open to anonymous clients, with the settings' default throttles (`anon` 1/min).
#[permission(AllowAny)]
async fn default_throttles(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

/// Basic only, counted per user at the `user` rate.
#[authentication(Basic)]
#[throttle(UserRate)]
async fn per_user(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": p.username()}))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/burst", web::get().to(burst))
        .route("/unthrottled", web::get().to(unthrottled))
        .route("/default", web::get().to(default_throttles))
        .route("/per-user", web::get().to(per_user));
}

fn rate(s: &str) -> Rate {
    s.parse().unwrap()
}

/// `burst` 2/min, `user` 3/min, `anon` 1/min.
fn settings() -> example_app::Settings {
    example_app::Settings {
        throttle: ThrottleConfig {
            scopes: [("burst".into(), rate("2/min"))].into(),
            user: Some(rate("3/min")),
            anon: Some(rate("1/min")),
            ..Default::default()
        },
        ..example_app::Settings::default()
    }
}

/// `GET path` with an optional `Authorization`; the raw response.
async fn get(app: &TestApp, path: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    req.send().await.expect("send")
}

/// Asserts a 200 whose body names `user`.
async fn assert_ok(res: reqwest::Response, user: Option<&str>, what: &str) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("json");
    assert_eq!((status, body), (200, json!({"user": user})), "{what}");
}

/// Asserts a 429 `throttled` with an integer `Retry-After` of at least one second (and at
/// most `max`), and a `detail` that gives the same number of seconds; returns it.
async fn assert_throttled(res: reqwest::Response, max: u64, what: &str) -> u64 {
    assert_eq!(res.status(), 429, "{what}");
    let header = res.headers().get("retry-after").unwrap_or_else(|| panic!("{what}: no Retry-After"));
    let retry: u64 = header.to_str().unwrap().parse().unwrap_or_else(|_| panic!("{what}: Retry-After {header:?}"));
    assert!((1..=max).contains(&retry), "{what}: Retry-After {retry}");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "throttled", "{what}: {body}");
    let detail = body["detail"].as_str().unwrap_or_else(|| panic!("{what}: no detail in {body}"));
    assert!(detail.contains(&format!("{retry} second")), "{what}: detail {detail:?} vs Retry-After {retry}");
    retry
}

db_test!(scoped_throttle_limits_its_scope, settings = settings(), routes = routes, |app| {
    app.user("alice", "alice-pw", false).await;
    app.user("bob", "bob-pw", false).await;
    let alice = basic("alice", "alice-pw");
    // Permission before throttles (as in DRF): anonymous is refused, and not counted.
    for _ in 0..3 {
        assert_eq!(get(&app, "/burst", None).await.status(), 401);
    }
    // The scope's rate (2/min) applies, not the default `user` rate (3/min).
    assert_ok(get(&app, "/burst", Some(&alice)).await, Some("alice"), "alice 1").await;
    assert_ok(get(&app, "/burst", Some(&alice)).await, Some("alice"), "alice 2").await;
    assert_throttled(get(&app, "/burst", Some(&alice)).await, 60, "alice 3").await;
    assert_throttled(get(&app, "/burst", Some(&alice)).await, 60, "alice 4").await;
    // Counted per user.
    assert_ok(get(&app, "/burst", Some(&basic("bob", "bob-pw"))).await, Some("bob"), "bob 1").await;
});

db_test!(empty_throttle_list_is_never_throttled, settings = settings(), routes = routes, |app| {
    for i in 0..5 {
        assert_ok(get(&app, "/unthrottled", None).await, None, &format!("anonymous {i}")).await;
    }
    // Without #[throttle], the settings' defaults apply: `anon` is 1/min.
    assert_ok(get(&app, "/default", None).await, None, "default 1").await;
    assert_throttled(get(&app, "/default", None).await, 60, "default 2").await;
    // The empty list still is not throttled once the client is.
    assert_ok(get(&app, "/unthrottled", None).await, None, "anonymous after").await;
});

db_test!(user_rate_counts_per_user, settings = settings(), routes = routes, |app| {
    app.user("alice", "alice-pw", false).await;
    app.user("bob", "bob-pw", false).await;
    let (alice, bob) = (basic("alice", "alice-pw"), basic("bob", "bob-pw"));
    for i in 1..=3 {
        assert_ok(get(&app, "/per-user", Some(&alice)).await, Some("alice"), &format!("alice {i}")).await;
    }
    assert_throttled(get(&app, "/per-user", Some(&alice)).await, 60, "alice 4").await;
    // Bob has his own counter, from the same client IP.
    for i in 1..=3 {
        assert_ok(get(&app, "/per-user", Some(&bob)).await, Some("bob"), &format!("bob {i}")).await;
    }
    assert_throttled(get(&app, "/per-user", Some(&bob)).await, 60, "bob 4").await;
    // `anon` (1/min) does not apply: the handler lists only UserRate, and Basic is its chain.
    assert_eq!(get(&app, "/per-user", None).await.status(), 401);
});
