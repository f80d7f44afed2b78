//! Permissions: composed built-ins, the user's own `Permission` types, and the 401/403
//! split (anonymous refused: 401 with the chain's challenges in chain order; authenticated
//! refused: 403 without `WWW-Authenticate`). Then the example app's permission-guarded
//! routes (`/api/admin/users`, `/api/books`).

use actix_web::{HttpRequest, HttpResponse, web};
use auth_runtime::permissions::Permission;
use auth_runtime::users::{NewUser, create_user};
use auth_runtime::{AuthError, MaybePrincipal, Principal, authentication, permission};
use reqwest::Method;
use serde_json::{Value, json};
use tests::DEFAULT_CHALLENGES;
use tests::{TestApp, basic, db_test};

const BASIC: &str = "Basic realm=\"api\", charset=\"UTF-8\"";

/// Only the user named "alice"; refuses others with its own 403 code.
struct IsAlice;

impl Permission for IsAlice {
    fn has_permission(&self, _req: &HttpRequest, p: Option<&Principal>) -> bool {
        p.and_then(|p| p.username()) == Some("alice")
    }
    fn denial(&self, _req: &HttpRequest, _p: &Principal) -> AuthError {
        AuthError::PermissionDenied {
            detail: "Only alice may do this.".into(),
            code: "not_alice",
            challenges: Vec::new(),
        }
    }
}

/// A permission with an argument, written as a call in `#[permission]`.
struct IsNamed(&'static str);

impl Permission for IsNamed {
    fn has_permission(&self, _req: &HttpRequest, p: Option<&Principal>) -> bool {
        p.and_then(|p| p.username()) == Some(self.0)
    }
}

fn who(p: &MaybePrincipal) -> Value {
    json!({"user": p.0.as_ref().and_then(|p| p.username())})
}

#[permission(IsAuthenticated & IsAdminUser)]
async fn staff_only(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

#[permission(!IsAdminUser)]
async fn not_staff(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

#[permission(IsAdminUser | IsAuthenticatedOrReadOnly)]
async fn staff_or_read_only(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

#[permission(IsAuthenticatedOrReadOnly)]
async fn read_only(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

#[permission(IsAlice)]
async fn alice_only(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": p.username()}))
}

#[authentication(Token, Basic)]
#[permission(IsAlice)]
async fn alice_token_first(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": p.username(), "scheme": p.scheme}))
}

#[permission(IsAlice & IsAdminUser)]
async fn alice_and_staff(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": p.username()}))
}

#[permission(IsAdminUser | IsAlice)]
async fn staff_or_alice(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": p.username()}))
}

#[permission(!IsAlice)]
async fn not_alice(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

#[permission(IsNamed("bob") | (IsAuthenticated & !IsAuthenticated))]
async fn bob_only(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": p.username()}))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/staff-only", web::get().to(staff_only))
        .route("/not-staff", web::get().to(not_staff))
        .service(web::resource("/staff-or-read-only").to(staff_or_read_only))
        .service(web::resource("/read-only").to(read_only))
        .route("/alice", web::get().to(alice_only))
        .route("/alice-token-first", web::get().to(alice_token_first))
        .route("/alice-and-staff", web::get().to(alice_and_staff))
        .route("/staff-or-alice", web::get().to(staff_or_alice))
        .route("/not-alice", web::get().to(not_alice))
        .route("/bob", web::get().to(bob_only));
}

/// Creates the users every test here uses: alice (not staff), bob (not staff), root
/// (staff); returns their Authorization values `[alice, bob, root]`.
async fn users(app: &TestApp) -> [String; 3] {
    app.user("alice", "pw-a", false).await;
    app.user("bob", "pw-b", false).await;
    app.user("root", "pw-r", true).await;
    [basic("alice", "pw-a"), basic("bob", "pw-b"), basic("root", "pw-r")]
}

/// Asserts the anonymous refusal: 401 `not_authenticated` with `challenges`, in order.
fn assert_anonymous_refused(res: &(u16, Vec<String>, Value), challenges: &[&str], what: &str) {
    assert_eq!(res.0, 401, "{what}: {:?}", res.2);
    assert_eq!(res.1, challenges, "{what}");
    assert_eq!(res.2["code"], "not_authenticated", "{what}");
    assert_eq!(res.2["detail"], "Authentication credentials were not provided.", "{what}");
}

/// Asserts the refusal of an authenticated principal: 403 `code`, no challenge.
fn assert_denied(res: &(u16, Vec<String>, Value), code: &str, what: &str) {
    assert_eq!(res.0, 403, "{what}: {:?}", res.2);
    assert!(res.1.is_empty(), "{what}: a 403 carries no challenge: {:?}", res.1);
    assert_eq!(res.2["code"], code, "{what}");
    assert!(res.2["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}");
}

db_test!(authenticated_and_admin, routes = routes, |app| {
    let [alice, _, root] = users(&app).await;
    assert_anonymous_refused(&app.get("/staff-only", None).await, &DEFAULT_CHALLENGES, "anonymous");
    assert_denied(&app.get("/staff-only", Some(&alice)).await, "permission_denied", "alice");
    let (status, _, body) = app.get("/staff-only", Some(&root)).await;
    assert_eq!((status, body), (200, json!({"user": "root"})));
});

db_test!(negated_admin, routes = routes, |app| {
    let [alice, _, root] = users(&app).await;
    let (status, _, body) = app.get("/not-staff", None).await;
    assert_eq!((status, body), (200, json!({"user": null})), "anonymous is not staff");
    let (status, _, body) = app.get("/not-staff", Some(&alice)).await;
    assert_eq!((status, body), (200, json!({"user": "alice"})));
    assert_denied(&app.get("/not-staff", Some(&root)).await, "permission_denied", "root");
});

db_test!(admin_or_authenticated_or_read_only, routes = routes, |app| {
    let [alice, _, root] = users(&app).await;
    let (status, _, body) = app.get("/staff-or-read-only", None).await;
    assert_eq!((status, body), (200, json!({"user": null})));
    assert_anonymous_refused(
        &app.call(Method::POST, "/staff-or-read-only", None, None).await,
        &DEFAULT_CHALLENGES,
        "anonymous POST",
    );
    for (auth, name) in [(&alice, "alice"), (&root, "root")] {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let (status, _, body) = app.call(method.clone(), "/staff-or-read-only", Some(auth), None).await;
            assert_eq!((status, body), (200, json!({"user": name})), "{name} {method}");
        }
    }
});

db_test!(authenticated_or_read_only, routes = routes, |app| {
    let [alice, _, _] = users(&app).await;
    for method in [Method::GET, Method::OPTIONS] {
        let (status, _, body) = app.call(method.clone(), "/read-only", None, None).await;
        assert_eq!((status, body), (200, json!({"user": null})), "anonymous {method}");
    }
    let head = app.client.head(app.url("/read-only")).send().await.unwrap();
    assert_eq!(head.status(), 200, "anonymous HEAD");
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let res = app.call(method.clone(), "/read-only", None, Some(json!({}))).await;
        assert_anonymous_refused(&res, &DEFAULT_CHALLENGES, &format!("anonymous {method}"));
        let (status, _, body) = app.call(method.clone(), "/read-only", Some(&alice), Some(json!({}))).await;
        assert_eq!((status, body), (200, json!({"user": "alice"})), "alice {method}");
    }
    // Bad credentials on a safe method are still a 401 (never anonymous).
    let (status, challenges, body) = app.get("/read-only", Some(&basic("alice", "wrong"))).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
    assert_eq!(challenges, DEFAULT_CHALLENGES);
});

db_test!(user_defined_permission, routes = routes, |app| {
    let [alice, bob, root] = users(&app).await;
    let anonymous = app.get("/alice", None).await;
    assert_anonymous_refused(&anonymous, &DEFAULT_CHALLENGES, "anonymous");
    let res = app.client.get(app.url("/alice")).send().await.unwrap();
    assert_eq!(res.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
    let (status, _, body) = app.get("/alice", Some(&alice)).await;
    assert_eq!((status, body), (200, json!({"user": "alice"})));
    for auth in [&bob, &root] {
        let res = app.get("/alice", Some(auth)).await;
        assert_denied(&res, "not_alice", auth);
        assert_eq!(res.2["detail"], "Only alice may do this.");
    }
    // The permission written as a call with an argument, combined with an unsatisfiable rule.
    let (status, _, body) = app.get("/bob", Some(&bob)).await;
    assert_eq!((status, body), (200, json!({"user": "bob"})));
    assert_denied(&app.get("/bob", Some(&alice)).await, "permission_denied", "alice on /bob");
    assert_anonymous_refused(&app.get("/bob", None).await, &DEFAULT_CHALLENGES, "anonymous on /bob");
});

db_test!(anonymous_refusal_lists_the_handlers_chain_in_order, routes = routes, |app| {
    let alice = app.user("alice", "pw", false).await;
    let bob = app.user("bob", "pw", false).await;
    assert_anonymous_refused(&app.get("/alice-token-first", None).await, &["Token", BASIC], "anonymous");
    let (status, challenges, body) = app.get("/alice-token-first", Some(&basic("alice", "bad"))).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
    assert_eq!(challenges, ["Token", BASIC]);
    let key = app.token_for(&alice).await;
    let (status, _, body) = app.get("/alice-token-first", Some(&format!("Token {key}"))).await;
    assert_eq!((status, body), (200, json!({"user": "alice", "scheme": "token"})));
    let (status, _, body) = app.get("/alice-token-first", Some(&basic("alice", "pw"))).await;
    assert_eq!((status, body), (200, json!({"user": "alice", "scheme": "basic"})));
    let key = app.token_for(&bob).await;
    assert_denied(&app.get("/alice-token-first", Some(&format!("Token {key}"))).await, "not_alice", "bob");
});

db_test!(composed_denials_follow_drf, routes = routes, |app| {
    let [alice, bob, root] = users(&app).await;
    // `A & B`: the first refusing permission's 403.
    assert_denied(&app.get("/alice-and-staff", Some(&bob)).await, "not_alice", "bob: IsAlice refuses first");
    assert_denied(&app.get("/alice-and-staff", Some(&alice)).await, "permission_denied", "alice: IsAdminUser refuses");
    assert_denied(&app.get("/alice-and-staff", Some(&root)).await, "not_alice", "root: IsAlice refuses first");
    assert_anonymous_refused(&app.get("/alice-and-staff", None).await, &DEFAULT_CHALLENGES, "anonymous");
    // `A | B`: the last one's 403.
    assert_denied(&app.get("/staff-or-alice", Some(&bob)).await, "not_alice", "bob");
    for (auth, name) in [(&alice, "alice"), (&root, "root")] {
        let (status, _, body) = app.get("/staff-or-alice", Some(auth)).await;
        assert_eq!((status, body), (200, json!({"user": name})));
    }
    // `!A`: the plain permission_denied.
    assert_denied(&app.get("/not-alice", Some(&alice)).await, "permission_denied", "alice on !IsAlice");
    let (status, _, body) = app.get("/not-alice", Some(&bob)).await;
    assert_eq!((status, body), (200, json!({"user": "bob"})));
    let (status, _, body) = app.get("/not-alice", None).await;
    assert_eq!((status, body), (200, json!({"user": null})));
});

// ---------------------------------------------------------------------------------------
// The example app
// ---------------------------------------------------------------------------------------

db_test!(example_admin_users, |app| {
    let [alice, _bob, root] = users(&app).await;
    create_user(
        &app.auth,
        NewUser {
            username: "carl".into(),
            password: "pw-c".into(),
            is_staff: true,
            is_active: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_anonymous_refused(&app.get("/api/admin/users", None).await, &DEFAULT_CHALLENGES, "anonymous");
    assert_denied(&app.get("/api/admin/users", Some(&alice)).await, "permission_denied", "alice");
    let token = app.token("alice", "pw-a").await;
    assert_denied(
        &app.get("/api/admin/users", Some(&format!("Token {token}"))).await,
        "permission_denied",
        "alice by token",
    );
    let res = app.client.get(app.url("/api/admin/users")).header("Authorization", &root).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!([
            {"username": "alice", "is_staff": false, "is_active": true},
            {"username": "bob", "is_staff": false, "is_active": true},
            {"username": "carl", "is_staff": true, "is_active": false},
            {"username": "root", "is_staff": true, "is_active": true},
        ])
    );
    // The inactive staff user cannot use it.
    let (status, _, body) = app.get("/api/admin/users", Some(&basic("carl", "pw-c"))).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
});

db_test!(example_books_write_needs_staff, |app| {
    let [alice, _, root] = users(&app).await;
    let book = json!({"title": "Dune", "author": "Frank Herbert"});
    // Anonymous: 401; non-staff: 403, nothing written.
    assert_anonymous_refused(
        &app.call(Method::POST, "/api/books", None, Some(book.clone())).await,
        &DEFAULT_CHALLENGES,
        "anonymous",
    );
    assert_denied(
        &app.call(Method::POST, "/api/books", Some(&alice), Some(book.clone())).await,
        "permission_denied",
        "alice",
    );
    let (status, _, list) = app.get("/api/books", Some(&alice)).await;
    assert_eq!((status, list), (200, json!([])));
    // Staff: 201 with the id.
    let (status, _, created) = app.call(Method::POST, "/api/books", Some(&root), Some(book.clone())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created, json!({"id": id, "title": "Dune", "author": "Frank Herbert"}));
    let (status, _, second) = app
        .call(Method::POST, "/api/books", Some(&root), Some(json!({"title": "Emma", "author": "Jane Austen"})))
        .await;
    assert_eq!(status, 201);
    let id2 = second["id"].as_i64().expect("id");
    assert_ne!(id, id2);
    // Reading: any principal; the list is a plain array.
    let (status, _, list) = app.get("/api/books", Some(&alice)).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!([created, second]));
    let (status, _, one) = app.get(&format!("/api/books/{id}"), Some(&alice)).await;
    assert_eq!((status, one), (200, created.clone()));
    assert_anonymous_refused(&app.get("/api/books", None).await, &DEFAULT_CHALLENGES, "anonymous list");
    assert_anonymous_refused(&app.get(&format!("/api/books/{id}"), None).await, &DEFAULT_CHALLENGES, "anonymous get");
    let (status, _, body) = app.get(&format!("/api/books/{}", id2 + 1000), Some(&alice)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    // Deleting: non-staff 403, staff 204 then 404.
    let path = format!("/api/books/{id}");
    assert_denied(&app.call(Method::DELETE, &path, Some(&alice), None).await, "permission_denied", "alice delete");
    assert_anonymous_refused(
        &app.call(Method::DELETE, &path, None, None).await,
        &DEFAULT_CHALLENGES,
        "anonymous delete",
    );
    let res = app.client.delete(app.url(&path)).header("Authorization", &root).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.text().await.unwrap().is_empty(), "204 has no body");
    let (status, _, body) = app.get(&path, Some(&root)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, _, body) = app.call(Method::DELETE, &path, Some(&root), None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, _, list) = app.get("/api/books", Some(&root)).await;
    assert_eq!((status, list), (200, json!([second])));
});

db_test!(example_books_non_numeric_id_is_404, |app| {
    let [alice, _, root] = users(&app).await;
    for auth in [&alice, &root] {
        for path in ["/api/books/abc", "/api/books/1.5", "/api/books/99999999999999999999999", "/api/books/abc/"] {
            let (status, challenges, body) = app.get(path, Some(auth)).await;
            assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{path}");
            assert!(challenges.is_empty());
        }
    }
    let (status, _, body) = app.call(Method::DELETE, "/api/books/abc", Some(&root), None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
});

// CONTRACT: "Order of checks: routing (404, 405), then authentication, permissions"; a
// segment that is not an id names no book (as Django's `<int:pk>` would not match), so it
// is a 404 for everyone. The app runs authentication and the permission before the
// `web::Path<i64>` extractor: anonymous gets 401, a non-staff DELETE 403.
db_test!(example_books_non_numeric_id_is_404_before_authentication, |app| {
    app.user("alice", "pw-a", false).await;
    let (status, _, body) = app.get("/api/books/abc", None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "anonymous GET");
    let (status, _, body) = app.call(Method::DELETE, "/api/books/abc", Some(&basic("alice", "pw-a")), None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "non-staff DELETE");
});
