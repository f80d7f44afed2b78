//! Permissions: composed built-ins, the user's own `Permission` types, and the 401/403
//! split (anonymous refused: 401 with the chain's challenges in chain order; authenticated
//! refused: 403 without `WWW-Authenticate`). Then the example app's permission-guarded
//! routes (`/api/admin/users`, `/api/books`). Then permissions that await: request
//! permissions reading the database, owner-only object permissions checked by the handler
//! (`check_object_permissions`), and store faults (503, never an allow).

use std::any::Any;

use actix_web::{HttpRequest, HttpResponse, web};
use auth_runtime::check_object_permissions;
use auth_runtime::lifecycle::create_user;
use auth_runtime::permissions::{Context, Permission};
use auth_runtime::users::NewUser;
use auth_runtime::{AuthError, MaybePrincipal, Principal, authentication, permission};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tests::DEFAULT_CHALLENGES;
use tests::{TestApp, basic, db_test};

const BASIC: &str = "Basic realm=\"api\", charset=\"UTF-8\"";

/// Only the user named "alice"; refuses others with its own 403 code.
struct IsAlice;

impl Permission for IsAlice {
    async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
        Ok(cx.principal().and_then(|p| p.username()) == Some("alice"))
    }
    fn denial(&self, _cx: &Context<'_>) -> AuthError {
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
    async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
        Ok(cx.principal().and_then(|p| p.username()) == Some(self.0))
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

// ---------------------------------------------------------------------------------------
// Permissions that await: request permissions that read the database, object permissions
// (owner only), and store faults (503, never an allow)
// ---------------------------------------------------------------------------------------

/// Runs `sql` on the app's database; `Ok(true)` when it returns a row.
async fn exists(cx: &Context<'_>, sql: String) -> Result<bool, AuthError> {
    let db = cx.auth().db();
    Ok(db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?.is_some())
}

/// Users with a row in the test's `grants` table (read from the database on every request).
struct IsGranted;

impl Permission for IsGranted {
    async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
        let Some(user) = cx.user() else { return Ok(false) };
        exists(cx, format!("SELECT 1 FROM grants WHERE user_id = {}", user.id)).await
    }
}

/// A row of the test's `notes` table, as a handler loads it.
#[derive(Debug)]
struct Note {
    id: i64,
    owner_id: i64,
    body: String,
}

/// Object permission: the note's owner, or a user it is shared with (a row in `shares`,
/// read only when the principal is not the owner). Allows every request (anonymous too):
/// the object decides. Refuses objects that are not notes.
struct IsOwnerOrShared;

impl Permission for IsOwnerOrShared {
    async fn has_permission(&self, _cx: &Context<'_>) -> Result<bool, AuthError> {
        Ok(true)
    }
    async fn has_object_permission(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<bool, AuthError> {
        let (Some(note), Some(user)) = (obj.downcast_ref::<Note>(), cx.user()) else { return Ok(false) };
        if note.owner_id == user.id {
            return Ok(true);
        }
        exists(cx, format!("SELECT 1 FROM shares WHERE note_id = {} AND user_id = {}", note.id, user.id)).await
    }
    fn denial(&self, _cx: &Context<'_>) -> AuthError {
        AuthError::PermissionDenied { detail: "Not your note.".into(), code: "not_owner", challenges: Vec::new() }
    }
}

async fn load_note(req: &HttpRequest) -> Result<Note, AuthError> {
    let auth = req.app_data::<auth_runtime::Auth>().expect("auth");
    let id: i64 = req.match_info().get("id").and_then(|id| id.parse().ok()).ok_or(AuthError::NotFound)?;
    let db = auth.db();
    let sql = format!("SELECT id, owner_id, body FROM notes WHERE id = {id}");
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
    let row = row.ok_or(AuthError::NotFound)?;
    Ok(Note { id: row.try_get("", "id")?, owner_id: row.try_get("", "owner_id")?, body: row.try_get("", "body")? })
}

/// Loads the note, then checks the handler's object permission: DRF's `get_object`.
async fn note_response(req: &HttpRequest) -> Result<HttpResponse, AuthError> {
    let note = load_note(req).await?;
    check_object_permissions(req, &note).await?;
    Ok(HttpResponse::Ok().json(json!({"id": note.id, "body": note.body})))
}

#[permission(IsGranted)]
async fn granted(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": p.username()}))
}

#[permission(!IsGranted)]
async fn not_granted(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

#[permission(IsGranted | AllowAny)]
async fn granted_or_anyone(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(who(&p))
}

#[permission(IsOwnerOrShared)]
async fn note(req: HttpRequest) -> Result<HttpResponse, AuthError> {
    note_response(&req).await
}

#[permission(IsOwnerOrShared | IsAdminUser)]
async fn note_or_staff(req: HttpRequest) -> Result<HttpResponse, AuthError> {
    note_response(&req).await
}

#[permission(IsOwnerOrShared & IsGranted)]
async fn note_if_granted(req: HttpRequest) -> Result<HttpResponse, AuthError> {
    note_response(&req).await
}

/// No attribute: the settings' permission (IsAuthenticated), whose object permission
/// allows.
async fn note_default(req: HttpRequest) -> Result<HttpResponse, AuthError> {
    note_response(&req).await
}

fn async_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/granted", web::get().to(granted))
        .route("/not-granted", web::get().to(not_granted))
        .route("/granted-or-anyone", web::get().to(granted_or_anyone))
        .route("/notes/{id}", web::get().to(note))
        .route("/notes/{id}/or-staff", web::get().to(note_or_staff))
        .route("/notes/{id}/if-granted", web::get().to(note_if_granted))
        .route("/notes/{id}/default", web::get().to(note_default));
}

/// Creates alice, bob, root (staff) and carl, the tables `grants` (alice), `notes` (note 1
/// owned by alice) and `shares` (note 1 shared with carl); returns the Authorization values
/// `[alice, bob, root, carl]` and bob's id.
async fn notes_fixture(app: &TestApp) -> ([String; 4], i64) {
    let alice = app.user("alice", "pw-a", false).await;
    let bob = app.user("bob", "pw-b", false).await;
    app.user("root", "pw-r", true).await;
    let carl = app.user("carl", "pw-c", false).await;
    for sql in [
        "CREATE TABLE grants (user_id BIGINT NOT NULL)".to_owned(),
        "CREATE TABLE notes (id BIGINT PRIMARY KEY, owner_id BIGINT NOT NULL, body TEXT NOT NULL)".to_owned(),
        "CREATE TABLE shares (note_id BIGINT NOT NULL, user_id BIGINT NOT NULL)".to_owned(),
        format!("INSERT INTO grants (user_id) VALUES ({})", alice.id),
        format!("INSERT INTO notes (id, owner_id, body) VALUES (1, {}, 'secret')", alice.id),
        format!("INSERT INTO shares (note_id, user_id) VALUES (1, {})", carl.id),
    ] {
        app.db.db.execute_unprepared(&sql).await.unwrap();
    }
    let auths = [basic("alice", "pw-a"), basic("bob", "pw-b"), basic("root", "pw-r"), basic("carl", "pw-c")];
    (auths, bob.id)
}

db_test!(async_permission_reads_the_database, routes = async_routes, |app| {
    let ([alice, bob, root, _], bob_id) = notes_fixture(&app).await;
    let (status, _, body) = app.get("/granted", Some(&alice)).await;
    assert_eq!((status, body), (200, json!({"user": "alice"})), "alice has a grant");
    assert_denied(&app.get("/granted", Some(&bob)).await, "permission_denied", "bob has none");
    assert_denied(&app.get("/granted", Some(&root)).await, "permission_denied", "staff is not enough");
    assert_anonymous_refused(&app.get("/granted", None).await, &DEFAULT_CHALLENGES, "anonymous");
    // The grant is read on every request: adding one takes effect at once.
    app.db.db.execute_unprepared(&format!("INSERT INTO grants (user_id) VALUES ({bob_id})")).await.unwrap();
    let (status, _, body) = app.get("/granted", Some(&bob)).await;
    assert_eq!((status, body), (200, json!({"user": "bob"})), "bob after his grant");
    // Negated and combined.
    assert_denied(&app.get("/not-granted", Some(&alice)).await, "permission_denied", "alice on !IsGranted");
    let (status, _, body) = app.get("/not-granted", Some(&root)).await;
    assert_eq!((status, body), (200, json!({"user": "root"})));
    let (status, _, body) = app.get("/granted-or-anyone", None).await;
    assert_eq!((status, body), (200, json!({"user": null})));
});

db_test!(async_permission_store_fault_is_503_never_an_allow, routes = async_routes, |app| {
    let ([alice, bob, _, _], _) = notes_fixture(&app).await;
    app.db.db.execute_unprepared("DROP TABLE grants").await.unwrap();
    for (path, what) in [
        ("/granted", "IsGranted"),
        ("/not-granted", "!IsGranted must not turn the fault into an allow"),
        ("/granted-or-anyone", "IsGranted | AllowAny: the fault is the answer"),
        ("/notes/1/if-granted", "IsOwnerOrShared & IsGranted"),
    ] {
        for auth in [&alice, &bob] {
            let (status, challenges, body) = app.get(path, Some(auth)).await;
            assert_eq!((status, body["code"].as_str()), (503, Some("service_unavailable")), "{what}: {body}");
            assert!(challenges.is_empty(), "{what}");
        }
    }
    // Anonymous: IsGranted refuses without reading the store (401); `!IsGranted` allows.
    assert_anonymous_refused(&app.get("/granted", None).await, &DEFAULT_CHALLENGES, "anonymous");
    let (status, _, body) = app.get("/not-granted", None).await;
    assert_eq!((status, body), (200, json!({"user": null})));
});

db_test!(owner_only_object_permission, routes = async_routes, |app| {
    let ([alice, bob, root, carl], _) = notes_fixture(&app).await;
    let note = json!({"id": 1, "body": "secret"});
    // The owner, and a user the note is shared with (read from the database).
    for (auth, who) in [(&alice, "owner"), (&carl, "shared with carl")] {
        let (status, _, body) = app.get("/notes/1", Some(auth)).await;
        assert_eq!((status, body), (200, note.clone()), "{who}");
    }
    // Another user: the permission's 403; staff is nobody special here.
    for (auth, who) in [(&bob, "bob"), (&root, "root")] {
        let res = app.get("/notes/1", Some(auth)).await;
        assert_denied(&res, "not_owner", who);
        assert_eq!(res.2["detail"], "Not your note.");
    }
    // Anonymous: allowed to the handler by has_permission, refused on the object with the
    // chain's challenges.
    assert_anonymous_refused(&app.get("/notes/1", None).await, &DEFAULT_CHALLENGES, "anonymous");
    // A missing note is the handler's 404, before any object check.
    let (status, _, body) = app.get("/notes/2", Some(&bob)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    // Bad credentials are still a 401 before the handler.
    let (status, _, body) = app.get("/notes/1", Some(&basic("alice", "wrong"))).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
});

db_test!(object_permissions_compose_as_drf, routes = async_routes, |app| {
    let ([alice, bob, root, _], _) = notes_fixture(&app).await;
    let note = json!({"id": 1, "body": "secret"});
    // `IsOwnerOrShared | IsAdminUser`: (has_permission and has_object_permission) of either:
    // staff passes through IsAdminUser's default object permission; bob gets the last
    // one's 403 (IsAdminUser's plain permission_denied).
    for (auth, who) in [(&alice, "owner"), (&root, "staff")] {
        let (status, _, body) = app.get("/notes/1/or-staff", Some(auth)).await;
        assert_eq!((status, body), (200, note.clone()), "{who}");
    }
    assert_denied(&app.get("/notes/1/or-staff", Some(&bob)).await, "permission_denied", "bob");
    assert_anonymous_refused(&app.get("/notes/1/or-staff", None).await, &DEFAULT_CHALLENGES, "anonymous");
    // `IsOwnerOrShared & IsGranted`: the request needs the grant (bob: 403 before the
    // handler), the object the owner; the 403 is the first refusing one's.
    let (status, _, body) = app.get("/notes/1/if-granted", Some(&alice)).await;
    assert_eq!((status, body), (200, note.clone()));
    assert_denied(&app.get("/notes/1/if-granted", Some(&bob)).await, "permission_denied", "bob");
    // The settings' permission (IsAuthenticated): its object permission allows.
    let (status, _, body) = app.get("/notes/1/default", Some(&bob)).await;
    assert_eq!((status, body), (200, note));
    assert_anonymous_refused(&app.get("/notes/1/default", None).await, &DEFAULT_CHALLENGES, "anonymous");
});

db_test!(object_permission_store_fault_is_503, routes = async_routes, |app| {
    let ([alice, _, _, carl], _) = notes_fixture(&app).await;
    app.db.db.execute_unprepared("DROP TABLE shares").await.unwrap();
    // The owner needs no read; carl's share cannot be read: 503, not 403 nor 200.
    let (status, _, _) = app.get("/notes/1", Some(&alice)).await;
    assert_eq!(status, 200);
    let (status, challenges, body) = app.get("/notes/1", Some(&carl)).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("service_unavailable")), "{body}");
    assert!(challenges.is_empty());
});

/// Handlers without attributes: the settings' permission decides.
fn default_routes(cfg: &mut web::ServiceConfig) {
    async fn whoami(p: Principal) -> HttpResponse {
        HttpResponse::Ok().json(json!({"user": p.username()}))
    }
    cfg.route("/whoami", web::get().to(whoami)).route("/notes/{id}", web::get().to(note_default));
}

/// The settings' permission may await too (kept behind a `dyn` in `Auth`, its futures boxed):
/// `IsGranted & IsOwnerOrShared` as the default, for a handler that takes a `Principal` and one
/// that only checks its object.
mod async_default_permission {
    use super::*;

    /// The example app's chain, with an awaiting default permission.
    #[derive(auth_runtime::AuthSettings, Clone, Default)]
    #[auth(chain(Session, Basic, Token, Jwt, OAuth2), permission(IsGranted & IsOwnerOrShared))]
    struct GrantedSettings {
        #[auth(session)]
        session: auth_runtime::SessionConfig,
        #[auth(basic)]
        basic: auth_runtime::BasicConfig,
        #[auth(token)]
        token: auth_runtime::TokenConfig,
        #[auth(jwt)]
        jwt: auth_runtime::JwtConfig,
        #[auth(oauth2)]
        oauth2: auth_runtime::OAuth2Config,
    }

    async fn run(backend: tests::Backend) {
        let Some(db) = tests::TestDb::new(backend).await else {
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            return;
        };
        // A second default permission after the settings' would silently override it: the
        // builder refuses it.
        let twice = auth_runtime::Auth::builder(db.db.clone(), tests::test_secret())
            .settings(&example_app::Settings::default())
            .default_permission(auth_runtime::permissions::And(IsGranted, IsOwnerOrShared))
            .build();
        assert!(matches!(twice, Err(auth_runtime::SetupError::Conflict(_))), "{:?}", twice.err());
        let auth = auth_runtime::Auth::builder(db.db.clone(), tests::test_secret())
            .settings(&GrantedSettings::default())
            .build()
            .expect("state");
        let app = TestApp::serve_auth(db, auth, Some(default_routes)).await;
        let ([alice, bob, _, carl], bob_id) = notes_fixture(&app).await;
        let (status, _, body) = app.get("/whoami", Some(&alice)).await;
        assert_eq!((status, body), (200, json!({"user": "alice"})));
        assert_denied(&app.get("/whoami", Some(&bob)).await, "permission_denied", "bob has no grant");
        assert_anonymous_refused(&app.get("/whoami", None).await, &DEFAULT_CHALLENGES, "anonymous");
        // The object check of a handler without attributes runs the chain and the settings'
        // permission first, then its object permission.
        let (status, _, body) = app.get("/notes/1", Some(&alice)).await;
        assert_eq!((status, body), (200, json!({"id": 1, "body": "secret"})));
        assert_denied(&app.get("/notes/1", Some(&bob)).await, "permission_denied", "bob: no grant");
        assert_denied(&app.get("/notes/1", Some(&carl)).await, "permission_denied", "carl: no grant");
        assert_anonymous_refused(&app.get("/notes/1", None).await, &DEFAULT_CHALLENGES, "anonymous");
        // Bob with a grant passes the request, not the object: the object permission's 403.
        app.db.db.execute_unprepared(&format!("INSERT INTO grants (user_id) VALUES ({bob_id})")).await.unwrap();
        let (status, _, body) = app.get("/whoami", Some(&bob)).await;
        assert_eq!((status, body), (200, json!({"user": "bob"})));
        assert_denied(&app.get("/notes/1", Some(&bob)).await, "not_owner", "bob with a grant");
        // A store fault in the settings' permission: 503.
        app.db.db.execute_unprepared("DROP TABLE grants").await.unwrap();
        let (status, _, body) = app.get("/whoami", Some(&alice)).await;
        assert_eq!((status, body["code"].as_str()), (503, Some("service_unavailable")));
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
