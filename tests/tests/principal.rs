//! The principal records how and when its user proved who they are (OpenID Connect's
//! `auth_time` and `amr`), for every built-in scheme, over real HTTP on SQLite and
//! PostgreSQL: Basic and Session say `pwd` with the password check's time, Jwt the token's
//! issue time and `pwd`, Token nothing.

use actix_web::{HttpResponse, web};
use auth_runtime::Principal;
use serde_json::{Value, json};
use tests::{Backend, TestApp, basic, parts};

/// `GET /auth-info`: the principal's scheme, `auth_time` and `amr`.
async fn auth_info(principal: Principal) -> HttpResponse {
    let amr: Vec<_> = principal.authentication.methods.amr().collect();
    HttpResponse::Ok().json(json!({"scheme": principal.scheme, "at": principal.authentication.at, "amr": amr}))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth-info", web::get().to(auth_info));
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `at` is a time between `before` and now (whole seconds).
fn recent(body: &Value, before: i64) -> bool {
    body["at"].as_i64().is_some_and(|at| at >= before && at <= now())
}

async fn every_scheme_records_how_and_when(backend: Backend) {
    let Some(app) = TestApp::mounted(backend, example_app::Settings::default(), routes).await else { return };
    let before = now();
    app.user("alice", "alice-pass", false).await;

    let (status, _, body) = app.get("/auth-info", Some(&basic("alice", "alice-pass"))).await;
    assert_eq!((status, &body["scheme"], &body["amr"]), (200, &json!("basic"), &json!(["pwd"])), "{body}");
    assert!(recent(&body, before), "{body}");

    let token = app.token("alice", "alice-pass").await;
    let (status, _, body) = app.get("/auth-info", Some(&format!("Token {token}"))).await;
    assert_eq!((status, &body["scheme"], &body["at"], &body["amr"]), (200, &json!("token"), &Value::Null, &json!([])));

    let (_, _, pair) = parts(
        app.client
            .post(app.url("/api/auth/jwt/create"))
            .json(&json!({"username": "alice", "password": "alice-pass"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let access = pair["access"].as_str().expect("access token");
    let (status, _, body) = app.get("/auth-info", Some(&format!("Bearer {access}"))).await;
    assert_eq!((status, &body["scheme"], &body["amr"]), (200, &json!("jwt"), &json!(["pwd"])), "{body}");
    assert!(recent(&body, before), "{body}");

    let browser = app.browser();
    assert_eq!(app.session_login(&browser, "alice", "alice-pass").await.status(), 200);
    let body: Value = browser.get(app.url("/auth-info")).send().await.unwrap().json().await.unwrap();
    assert_eq!((&body["scheme"], &body["amr"]), (&json!("session"), &json!(["pwd"])), "{body}");
    assert!(recent(&body, before), "{body}");
    app.stop().await;
}

#[actix_web::rt::test]
async fn every_scheme_records_how_and_when_sqlite() {
    every_scheme_records_how_and_when(Backend::Sqlite).await;
}

#[actix_web::rt::test]
async fn every_scheme_records_how_and_when_postgres() {
    every_scheme_records_how_and_when(Backend::Postgres).await;
}
