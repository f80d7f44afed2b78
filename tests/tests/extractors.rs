#![recursion_limit = "256"]
//! The `Principal` / `MaybePrincipal` extractors and the `#[authentication]` /
//! `#[permission]` attributes on handlers of our own, served over real HTTP.

use tests::DEFAULT_CHALLENGES;

/// The challenges of a handler annotated `#[authentication(Basic, Token)]`.
const BASIC_TOKEN: [&str; 2] = [BASIC, "Token"];
use actix_web::{HttpResponse, get, web};
use auth_runtime::{MaybePrincipal, Principal, authentication, permission};
use reqwest::Method;
use serde_json::{Value, json};
use tests::{TestApp, basic, db_test, parts};

const BASIC: &str = "Basic realm=\"api\", charset=\"UTF-8\"";

#[derive(Debug, serde::Deserialize)]
struct Book {
    title: String,
}

/// The principal is the LAST argument: authentication must still run before the body is
/// parsed.
#[authentication(Basic, Token)]
async fn echo_book(body: web::Json<Book>, id: web::Path<i64>, principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": id.into_inner(),
        "title": body.into_inner().title,
        "username": principal.username(),
        "scheme": principal.scheme,
    }))
}

#[permission(AllowAny)]
async fn maybe(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user": p.0.as_ref().and_then(|p| p.username()),
        "scheme": p.0.as_ref().map(|p| p.scheme),
    }))
}

/// No annotation at all: the settings' default chain and permission apply.
async fn plain(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"username": principal.username(), "scheme": principal.scheme}))
}

/// `AllowAny` lets the request through, but the handler still asks for a `Principal`:
/// anonymous requests get the 401 of this handler's chain.
#[authentication(Token)]
#[permission(AllowAny)]
async fn allow_any_but_principal(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"username": principal.username()}))
}

/// No annotation: `MaybePrincipal` runs the settings' default chain, without its permission.
async fn maybe_plain(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": p.0.as_ref().and_then(|p| p.username())}))
}

#[get("/a")]
#[authentication(Basic)]
async fn route_above(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"route": "a", "username": principal.username()}))
}

#[authentication(Basic)]
#[get("/b")]
async fn route_below(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"route": "b", "username": principal.username()}))
}

#[get("/admin-token")]
#[authentication(Token)]
#[permission(IsAdminUser)]
async fn admin_token(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"username": principal.username(), "scheme": principal.scheme}))
}

#[get("/admin-token-rev")]
#[permission(IsAdminUser)]
#[authentication(Token)]
async fn admin_token_rev(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"username": principal.username(), "scheme": principal.scheme}))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/books/{id}", web::post().to(echo_book))
        .route("/maybe", web::get().to(maybe))
        .route("/plain", web::get().to(plain))
        .route("/maybe-plain", web::get().to(maybe_plain))
        .route("/allow-any-principal", web::get().to(allow_any_but_principal))
        .service(route_above)
        .service(route_below)
        .service(admin_token)
        .service(admin_token_rev);
}

/// Sends a raw (possibly malformed) JSON body.
async fn post_raw(app: &TestApp, path: &str, authorization: Option<&str>, body: &str) -> (u16, Vec<String>, Value) {
    let mut req = app.client.post(app.url(path)).header("Content-Type", "application/json").body(body.to_owned());
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    parts(req.send().await.unwrap()).await
}

db_test!(principal_last_anonymous_with_malformed_body_is_401_not_400, routes = routes, |app| {
    for body in ["{not json", "[1, 2]", "{}", "{\"title\": 5}"] {
        let (status, challenges, json) = post_raw(&app, "/books/7", None, body).await;
        assert_eq!(status, 401, "{body}: {json}");
        assert_eq!(challenges, BASIC_TOKEN, "{body}");
        assert_eq!(json["code"], "not_authenticated", "{body}");
    }
});

db_test!(principal_last_bad_credentials_with_malformed_body_is_401, routes = routes, |app| {
    app.user("alice", "pw", false).await;
    let bad_token = format!("Token {}", "0".repeat(64));
    for auth in [basic("alice", "wrong"), basic("nobody", "pw"), bad_token] {
        let (status, challenges, json) = post_raw(&app, "/books/7", Some(&auth), "{not json").await;
        assert_eq!(status, 401, "{auth}: {json}");
        assert_eq!(challenges, BASIC_TOKEN, "{auth}");
        assert_eq!(json["code"], "authentication_failed", "{auth}");
    }
});

db_test!(principal_last_good_credentials_malformed_body_is_400, routes = routes, |app| {
    let alice = app.user("alice", "pw", false).await;
    let token = app.token_for(&alice).await;
    for auth in [basic("alice", "pw"), format!("Token {token}")] {
        for body in ["{not json", "[1, 2]", "{}", "{\"title\": 5}", ""] {
            let (status, challenges, json) = post_raw(&app, "/books/7", Some(&auth), body).await;
            assert_eq!(status, 400, "{auth} {body:?}: {json}");
            assert!(challenges.is_empty(), "{challenges:?}");
            assert_eq!(json["code"], "invalid_request", "{body:?}: {json}");
            assert!(json["detail"].as_str().is_some_and(|d| !d.is_empty()), "{json}");
        }
    }
});

db_test!(principal_last_good_credentials_good_body_is_200, routes = routes, |app| {
    let alice = app.user("alice", "pw", false).await;
    let token = app.token_for(&alice).await;
    let (status, _, json) =
        app.call(Method::POST, "/books/42", Some(&basic("alice", "pw")), Some(json!({"title": "Dune"}))).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, json!({"id": 42, "title": "Dune", "username": "alice", "scheme": "basic"}));
    let (status, _, json) =
        app.call(Method::POST, "/books/-3", Some(&format!("Token {token}")), Some(json!({"title": "Emma"}))).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, json!({"id": -3, "title": "Emma", "username": "alice", "scheme": "token"}));
});

db_test!(maybe_principal_anonymous_user_and_bad_credentials, routes = routes, |app| {
    let alice = app.user("alice", "pw", false).await;
    let token = app.token_for(&alice).await;
    let (status, _, json) = app.get("/maybe", None).await;
    assert_eq!((status, json), (200, json!({"user": null, "scheme": null})));
    // An unknown scheme is no credentials: still anonymous.
    let (status, _, json) = app.get("/maybe", Some("Digest abc")).await;
    assert_eq!((status, json), (200, json!({"user": null, "scheme": null})));
    let (status, _, json) = app.get("/maybe", Some(&basic("alice", "pw"))).await;
    assert_eq!((status, json), (200, json!({"user": "alice", "scheme": "basic"})));
    let (status, _, json) = app.get("/maybe", Some(&format!("Token {token}"))).await;
    assert_eq!((status, json), (200, json!({"user": "alice", "scheme": "token"})));
    // Rejected credentials are never turned into an anonymous request.
    for auth in
        [basic("alice", "wrong"), format!("Token {}", "f".repeat(64)), "Token".to_owned(), "Basic !!!".to_owned()]
    {
        let (status, challenges, json) = app.get("/maybe", Some(&auth)).await;
        assert_eq!(status, 401, "{auth}: {json}");
        assert_eq!(json["code"], "authentication_failed", "{auth}");
        assert_eq!(challenges, DEFAULT_CHALLENGES, "{auth}");
    }
});

db_test!(unannotated_principal_uses_the_default_chain, routes = routes, |app| {
    let alice = app.user("alice", "pw", false).await;
    let token = app.token_for(&alice).await;
    let (status, challenges, json) = app.get("/plain", None).await;
    assert_eq!((status, json["code"].as_str()), (401, Some("not_authenticated")));
    assert_eq!(challenges, DEFAULT_CHALLENGES);
    let (status, _, json) = app.get("/plain", Some(&basic("alice", "pw"))).await;
    assert_eq!((status, json), (200, json!({"username": "alice", "scheme": "basic"})));
    let (status, _, json) = app.get("/plain", Some(&format!("Token {token}"))).await;
    assert_eq!((status, json), (200, json!({"username": "alice", "scheme": "token"})));
    let (status, challenges, json) = app.get("/plain", Some(&basic("alice", "nope"))).await;
    assert_eq!((status, json["code"].as_str()), (401, Some("authentication_failed")));
    assert_eq!(challenges, DEFAULT_CHALLENGES);
});

db_test!(unannotated_maybe_principal_uses_the_default_chain_without_permission, routes = routes, |app| {
    let alice = app.user("alice", "pw", false).await;
    let token = app.token_for(&alice).await;
    assert_eq!(app.get("/maybe-plain", None).await.2, json!({"user": null}));
    let (status, _, json) = app.get("/maybe-plain", Some(&format!("Token {token}"))).await;
    assert_eq!((status, json), (200, json!({"user": "alice"})));
    let (status, challenges, json) = app.get("/maybe-plain", Some(&basic("alice", "wrong"))).await;
    assert_eq!((status, json["code"].as_str()), (401, Some("authentication_failed")));
    assert_eq!(challenges, DEFAULT_CHALLENGES);
});

db_test!(principal_on_an_allow_any_handler_still_requires_authentication, routes = routes, |app| {
    let alice = app.user("alice", "pw", false).await;
    let token = app.token_for(&alice).await;
    let (status, challenges, json) = app.get("/allow-any-principal", None).await;
    assert_eq!((status, json["code"].as_str()), (401, Some("not_authenticated")));
    assert_eq!(challenges, ["Token"]);
    let (status, challenges, json) = app.get("/allow-any-principal", Some(&basic("alice", "pw"))).await;
    assert_eq!((status, json["code"].as_str()), (401, Some("not_authenticated")), "Basic is not this chain's");
    assert_eq!(challenges, ["Token"]);
    let (status, _, json) = app.get("/allow-any-principal", Some(&format!("Token {token}"))).await;
    assert_eq!((status, json), (200, json!({"username": "alice"})));
});

/// A default chain of Token alone (settings of the app's own): an unannotated handler follows
/// it. Replacing the example settings' chain with a second `default_chain` call would be a
/// silent override, which the builder refuses.
mod unannotated_principal_follows_a_custom_default_chain {
    use super::*;

    #[derive(auth_runtime::AuthSettings, Clone, Default)]
    #[auth(chain(Token))]
    struct TokenOnly {
        #[auth(token)]
        token: auth_runtime::TokenConfig,
    }

    async fn run(backend: tests::Backend) {
        let Some(db) = tests::TestDb::new(backend).await else {
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            return;
        };
        let twice = auth_runtime::Auth::builder(db.db.clone(), tests::test_secret())
            .settings(&example_app::Settings::default())
            .default_chain::<(auth_runtime::schemes::Token,)>()
            .build();
        assert!(matches!(twice, Err(auth_runtime::SetupError::Conflict(_))), "{:?}", twice.err());
        let auth = auth_runtime::Auth::builder(db.db.clone(), tests::test_secret())
            .settings(&TokenOnly::default())
            .build()
            .expect("state");
        let app = TestApp::serve_auth(db, auth, Some(routes)).await;
        let alice = app.user("alice", "pw", false).await;
        let (status, challenges, json) = app.get("/plain", None).await;
        assert_eq!((status, json["code"].as_str()), (401, Some("not_authenticated")));
        assert_eq!(challenges, ["Token"]);
        // Basic is not in the default chain now: no credentials of its kind.
        let (status, challenges, json) = app.get("/plain", Some(&basic("alice", "pw"))).await;
        assert_eq!((status, json["code"].as_str()), (401, Some("not_authenticated")));
        assert_eq!(challenges, ["Token"]);
        let key = auth_runtime::schemes::token::create_token(app.auth.db(), alice.id, None).await.unwrap().key;
        let (status, _, json) = app.get("/plain", Some(&format!("Token {key}"))).await;
        assert_eq!((status, json), (200, json!({"username": "alice", "scheme": "token"})));
    }

    #[actix_web::rt::test]
    async fn sqlite() {
        run(tests::Backend::Sqlite).await;
    }

    #[actix_web::rt::test]
    async fn postgres() {
        run(tests::Backend::Postgres).await;
    }
}

db_test!(route_attribute_above_or_below_authentication, routes = routes, |app| {
    let alice = app.user("alice", "pw", false).await;
    let token = app.token_for(&alice).await;
    for route in ["a", "b"] {
        let path = format!("/{route}");
        let (status, _, json) = app.get(&path, Some(&basic("alice", "pw"))).await;
        assert_eq!((status, json), (200, json!({"route": route, "username": "alice"})));
        // Token credentials on a Basic-only handler are no credentials.
        let (status, challenges, json) = app.get(&path, Some(&format!("Token {token}"))).await;
        assert_eq!(status, 401, "{route}: {json}");
        assert_eq!(json["code"], "not_authenticated", "{route}");
        assert_eq!(challenges, [BASIC], "{route}");
        let (status, challenges, json) = app.get(&path, None).await;
        assert_eq!((status, json["code"].as_str()), (401, Some("not_authenticated")), "{route}");
        assert_eq!(challenges, [BASIC], "{route}");
        let (status, challenges, json) = app.get(&path, Some(&basic("alice", "bad"))).await;
        assert_eq!((status, json["code"].as_str()), (401, Some("authentication_failed")), "{route}");
        assert_eq!(challenges, [BASIC], "{route}");
        // The route macro still restricts the method.
        let res = app.client.post(app.url(&path)).header("Authorization", basic("alice", "pw")).send().await.unwrap();
        assert!(matches!(res.status().as_u16(), 404 | 405), "{route}: {}", res.status());
    }
});

db_test!(authentication_and_permission_combined_in_both_orders, routes = routes, |app| {
    let staff = app.user("staff", "pw", true).await;
    let bob = app.user("bob", "pw", false).await;
    let staff_token = app.token_for(&staff).await;
    let bob_token = app.token_for(&bob).await;
    for path in ["/admin-token", "/admin-token-rev"] {
        let (status, challenges, json) = app.get(path, None).await;
        assert_eq!((status, json["code"].as_str()), (401, Some("not_authenticated")), "{path}");
        assert_eq!(challenges, ["Token"], "{path}");
        // Basic is not this handler's scheme, even for a staff user.
        let (status, challenges, json) = app.get(path, Some(&basic("staff", "pw"))).await;
        assert_eq!((status, json["code"].as_str()), (401, Some("not_authenticated")), "{path}");
        assert_eq!(challenges, ["Token"], "{path}");
        let (status, challenges, json) = app.get(path, Some(&format!("Token {bob_token}"))).await;
        assert_eq!((status, json["code"].as_str()), (403, Some("permission_denied")), "{path}");
        assert!(challenges.is_empty(), "{path}: {challenges:?}");
        let (status, _, json) = app.get(path, Some(&format!("Token {staff_token}"))).await;
        assert_eq!((status, json), (200, json!({"username": "staff", "scheme": "token"})), "{path}");
    }
});
