//! The Jwt scheme and its endpoints over real HTTP against real databases: round trips with
//! every algorithm, key rotation, rotation and blacklist, replay detection, forged and broken
//! tokens, the user lifecycle.

use std::process::Command;

use actix_web::{HttpResponse, web};
use auth_runtime::schemes::jwt::{self, VerifyingKey};
use auth_runtime::{Auth, JwtConfig, Principal, authentication};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use example_app::Settings;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tests::{Backend, TestApp, TestDb, basic, db_test, parts};

const SECRET: &str = "test-secret-key-of-at-least-32-bytes-long!";

fn settings() -> Settings {
    Settings { secret_key: Some(SECRET.into()), ..Settings::default() }
}

fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if tests::postgres_url().is_some() {
        all.push(Backend::Postgres);
    }
    all
}

async fn create(app: &TestApp, user: &str, pass: &str) -> (String, String) {
    let res = app
        .client
        .post(app.url("/api/auth/jwt/create"))
        .json(&json!({"username": user, "password": pass}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(res).await;
    assert_eq!(status, 200, "{body}");
    (body["access"].as_str().unwrap().to_owned(), body["refresh"].as_str().unwrap().to_owned())
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Vec<String>, Value) {
    parts(app.client.post(app.url(path)).json(&body).send().await.unwrap()).await
}

async fn whoami(app: &TestApp, path: &str, token: &str) -> (u16, Vec<String>, Value) {
    parts(app.client.get(app.url(path)).header("Authorization", format!("Bearer {token}")).send().await.unwrap()).await
}

fn segments(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let h = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    let c = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    (h, c)
}

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

/// Signs `claims` with HS256 and the app's secret, with `typ`.
fn forge(typ: &str, claims: &Value, key: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some(typ.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key).unwrap()).unwrap()
}

fn access_claims(user_id: i64) -> Value {
    json!({"token_type": "access", "exp": now() + 300, "iat": now(), "jti": "abc", "user_id": user_id.to_string()})
}

/// Asserts a Jwt rejection: 401 `token_not_valid` with an `invalid_token` Bearer challenge.
fn assert_rejected((status, challenges, body): &(u16, Vec<String>, Value), what: &str) {
    assert_eq!(*status, 401, "{what}: {body}");
    assert_eq!(body["code"], "token_not_valid", "{what}: {body}");
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer realm=\"api\", error=\"invalid_token\"")),
        "{what}: {challenges:?}"
    );
}

db_test!(create_issues_typed_tokens_with_simple_jwt_claims, settings = settings(), |app| {
    let user = app.user("alice", "pw", false).await;
    let (access, refresh) = create(&app, "alice", "pw").await;
    let (ah, ac) = segments(&access);
    let (rh, rc) = segments(&refresh);
    assert_eq!((ah["typ"].as_str(), ah["alg"].as_str()), (Some("at+jwt"), Some("HS256")));
    assert_eq!(rh["typ"], "refresh+jwt");
    assert_eq!(ac["token_type"], "access");
    assert_eq!(rc["token_type"], "refresh");
    assert_eq!(ac["user_id"], json!(user.id.to_string()), "user_id is a JSON string");
    assert_eq!(ac["exp"].as_u64().unwrap() - ac["iat"].as_u64().unwrap(), 300);
    assert_eq!(rc["exp"].as_u64().unwrap() - rc["iat"].as_u64().unwrap(), 86400);
    assert_ne!(ac["jti"], rc["jti"]);
    // HS256 with the raw bytes of AUTH_SECRET_KEY: our own signature matches.
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    let resigned = jsonwebtoken::encode(&header, &ac, &EncodingKey::from_secret(SECRET.as_bytes()).unwrap()).unwrap();
    assert_eq!(resigned.rsplit('.').next(), access.rsplit('.').next());
    for path in ["/api/jwt/whoami", "/api/whoami"] {
        let (status, _, body) = whoami(&app, path, &access).await;
        assert_eq!((status, body), (200, json!({"username": "alice", "scheme": "jwt"})));
    }
    let res = app
        .client
        .get(app.url("/api/jwt/whoami"))
        .header("Authorization", format!("bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the Bearer keyword is case-insensitive");
});

db_test!(bad_credentials_are_no_active_account, settings = settings(), |app| {
    app.user("alice", "pw", false).await;
    let wrong = post(&app, "/api/auth/jwt/create", json!({"username": "alice", "password": "x"})).await;
    let unknown = post(&app, "/api/auth/jwt/create", json!({"username": "ghost", "password": "x"})).await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.2["code"], "no_active_account");
    assert_eq!(wrong, unknown);
    auth_runtime::lifecycle::set_active(&app.auth, "alice", false).await.unwrap();
    let inactive = post(&app, "/api/auth/jwt/create", json!({"username": "alice", "password": "pw"})).await;
    assert_eq!(inactive, unknown, "tokens are never minted for an inactive user");
    let bad_body = parts(
        app.client
            .post(app.url("/api/auth/jwt/create"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((bad_body.0, bad_body.2["code"].as_str()), (400, Some("invalid_request")));
});

db_test!(forged_and_broken_tokens_are_refused, settings = settings(), |app| {
    let user = app.user("alice", "pw", false).await;
    let (access, refresh) = create(&app, "alice", "pw").await;
    let claims = access_claims(user.id);
    let (h, p) = {
        let mut it = access.split('.');
        (it.next().unwrap().to_owned(), it.next().unwrap().to_owned())
    };
    let sig = access.rsplit('.').next().unwrap().to_owned();
    let enc = |v: &Value| B64.encode(serde_json::to_vec(v).unwrap());

    let none = format!("{}.{}.", enc(&json!({"alg": "none", "typ": "at+jwt"})), enc(&claims));
    let other_key = forge("at+jwt", &claims, b"another-secret-key-another-secret-key!!");
    let alg_rs = format!("{}.{p}.{sig}", enc(&json!({"alg": "RS256", "typ": "at+jwt"})));
    let alg_hs512 = format!("{}.{p}.{sig}", enc(&json!({"alg": "HS512", "typ": "at+jwt"})));
    let mut tampered_claims = segments(&access).1;
    tampered_claims["user_id"] = json!("999");
    let tampered = format!("{h}.{}.{sig}", enc(&tampered_claims));
    let expired = forge(
        "at+jwt",
        &json!({"token_type": "access", "exp": now() - 10, "iat": now() - 400, "jti": "x", "user_id": user.id.to_string()}),
        SECRET.as_bytes(),
    );
    let future_nbf = forge(
        "at+jwt",
        &json!({"token_type": "access", "exp": now() + 300, "nbf": now() + 200, "iat": now(), "jti": "x", "user_id": user.id.to_string()}),
        SECRET.as_bytes(),
    );
    let future_iat = forge(
        "at+jwt",
        &json!({"token_type": "access", "exp": now() + 300, "iat": now() + 200, "jti": "x", "user_id": user.id.to_string()}),
        SECRET.as_bytes(),
    );
    let no_exp = forge(
        "at+jwt",
        &json!({"token_type": "access", "iat": now(), "jti": "x", "user_id": user.id.to_string()}),
        SECRET.as_bytes(),
    );
    let string_exp = forge(
        "at+jwt",
        &json!({"token_type": "access", "exp": "9999999999", "iat": now(), "jti": "x", "user_id": user.id.to_string()}),
        SECRET.as_bytes(),
    );
    let typ_jwt = forge("JWT", &claims, SECRET.as_bytes());
    let refresh_claim_in_access_typ = forge(
        "at+jwt",
        &json!({"token_type": "refresh", "exp": now() + 300, "iat": now(), "jti": "x", "user_id": user.id.to_string()}),
        SECRET.as_bytes(),
    );
    let unknown_user = forge("at+jwt", &access_claims(424242), SECRET.as_bytes());
    let numeric_user = forge(
        "at+jwt",
        &json!({"token_type": "access", "exp": now() + 300, "iat": now(), "jti": "x", "user_id": user.id}),
        SECRET.as_bytes(),
    );
    let non_json = format!("{}.{}.{sig}", B64.encode(b"not json"), B64.encode(b"{"));
    let cases = [
        ("alg none", none),
        ("HS-signed with another key", other_key),
        ("header alg changed to RS256", alg_rs),
        ("header alg changed to HS512", alg_hs512),
        ("payload changed after signing", tampered),
        ("expired", expired),
        ("nbf in the future", future_nbf),
        ("iat in the future", future_iat),
        ("no exp", no_exp),
        ("exp of the wrong type", string_exp),
        ("typ JWT", typ_jwt),
        ("refresh claim with access typ", refresh_claim_in_access_typ),
        ("refresh token used as access", refresh.clone()),
        ("unknown user", unknown_user),
        ("user_id not a string", numeric_user),
        ("non-JSON segments", non_json),
        ("non-base64 segment", format!("{h}.{}A.{sig}", &p[..p.len() - p.len() % 4])),
        ("bad base64 in payload", format!("{h}.@@@@.{sig}")),
    ];
    for (what, token) in &cases {
        let res = whoami(&app, "/api/jwt/whoami", token).await;
        if what == &"bad base64 in payload" {
            // `@` is no base64url character: not JWT-shaped, so not this scheme's.
            assert_eq!((res.0, res.2["code"].as_str()), (401, Some("not_authenticated")), "{what}");
            continue;
        }
        assert_rejected(&res, what);
        if what.starts_with("refresh token used") {
            continue; // a valid refresh token is valid at verify
        }
        let verify = post(&app, "/api/auth/jwt/verify", json!({"token": token})).await;
        assert_eq!((verify.0, verify.2["code"].as_str()), (401, Some("token_not_valid")), "verify {what}");
    }
    // Not JWT-shaped: `a.b`, `a.b.c.d` pass on (anonymous), never a success or a 5xx.
    for token in ["a.b", "a.b.c.d", "opaque"] {
        let (status, challenges, body) = whoami(&app, "/api/jwt/whoami", token).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("not_authenticated")), "{token}");
        assert_eq!(challenges, ["Bearer realm=\"api\""], "no error parameter without credentials");
    }
    // A 100 KB token: refused with a 4xx, never a 5xx.
    let huge = format!("{h}.{}.{sig}", "A".repeat(100 * 1024));
    let res = app.client.get(app.url("/api/jwt/whoami")).header("Authorization", format!("Bearer {huge}")).send().await;
    if let Ok(res) = res {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let res = post(&app, "/api/auth/jwt/verify", json!({"token": huge})).await;
    assert!((400..500).contains(&res.0), "{}", res.0);
    let res =
        post(&app, "/api/auth/jwt/verify", json!({"token": format!("{h}.{}.{sig}", "A".repeat(20 * 1024))})).await;
    assert_rejected(&res, "20 KB token at verify");
});

db_test!(access_token_cannot_refresh_and_refresh_rotates, settings = settings(), |app| {
    app.user("alice", "pw", false).await;
    let (access, refresh) = create(&app, "alice", "pw").await;
    assert_rejected(&post(&app, "/api/auth/jwt/refresh", json!({"refresh": access})).await, "access used to refresh");
    assert_rejected(
        &post(&app, "/api/auth/jwt/blacklist", json!({"refresh": access})).await,
        "access used to blacklist",
    );
    let (status, _, body) = post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh})).await;
    assert_eq!(status, 200);
    let (new_access, new_refresh) =
        (body["access"].as_str().unwrap().to_owned(), body["refresh"].as_str().unwrap().to_owned());
    assert_ne!(new_refresh, refresh);
    assert_eq!(whoami(&app, "/api/jwt/whoami", &new_access).await.0, 200);
    // The old refresh token is spent (blacklisted after rotation); reusing it revokes the family.
    assert_rejected(&post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh})).await, "rotated refresh reused");
    assert_rejected(
        &post(&app, "/api/auth/jwt/refresh", json!({"refresh": new_refresh})).await,
        "family revoked after reuse",
    );
    assert_rejected(
        &post(&app, "/api/auth/jwt/verify", json!({"token": new_refresh})).await,
        "verify honours the blacklist",
    );
    // Another login is another family, untouched.
    let (_, other) = create(&app, "alice", "pw").await;
    assert_eq!(post(&app, "/api/auth/jwt/refresh", json!({"refresh": other})).await.0, 200);
});

db_test!(blacklist_endpoint, settings = settings(), |app| {
    app.user("alice", "pw", false).await;
    let (access, refresh) = create(&app, "alice", "pw").await;
    assert_eq!(post(&app, "/api/auth/jwt/verify", json!({"token": refresh})).await.0, 200);
    let (status, _, body) = post(&app, "/api/auth/jwt/blacklist", json!({"refresh": refresh})).await;
    assert_eq!((status, body), (200, json!({})));
    assert_rejected(&post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh})).await, "blacklisted refresh");
    assert_rejected(&post(&app, "/api/auth/jwt/blacklist", json!({"refresh": refresh})).await, "blacklisted twice");
    assert_rejected(&post(&app, "/api/auth/jwt/verify", json!({"token": refresh})).await, "verify blacklisted");
    assert_eq!(post(&app, "/api/auth/jwt/verify", json!({"token": access})).await, (200, vec![], json!({})));
    let missing = post(&app, "/api/auth/jwt/blacklist", json!({"token": refresh})).await;
    assert_eq!((missing.0, missing.2["code"].as_str()), (400, Some("invalid_request")));
});

db_test!(inactive_and_deleted_users_lose_their_tokens, settings = settings(), |app| {
    app.user("alice", "pw", false).await;
    let (access, refresh) = create(&app, "alice", "pw").await;
    auth_runtime::lifecycle::set_active(&app.auth, "alice", false).await.unwrap();
    assert_rejected(&whoami(&app, "/api/jwt/whoami", &access).await, "inactive access");
    assert_rejected(&post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh})).await, "inactive refresh");
    auth_runtime::lifecycle::set_active(&app.auth, "alice", true).await.unwrap();
    assert_eq!(whoami(&app, "/api/jwt/whoami", &access).await.0, 200, "unexpired tokens work again");
    auth_runtime::lifecycle::delete_user(&app.auth, "alice").await.unwrap();
    assert_rejected(&whoami(&app, "/api/jwt/whoami", &access).await, "deleted access");
    assert_rejected(&post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh})).await, "deleted refresh");
});

db_test!(change_password_revokes_every_jwt, settings = settings(), |app| {
    app.user("alice", "pw", false).await;
    let (access, refresh) = create(&app, "alice", "pw").await;
    auth_runtime::lifecycle::change_password(&app.auth, "alice", "new-pw").await.unwrap();
    assert_rejected(&whoami(&app, "/api/jwt/whoami", &access).await, "access after password change");
    assert_rejected(
        &post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh})).await,
        "refresh after password change",
    );
    assert_rejected(
        &post(&app, "/api/auth/jwt/verify", json!({"token": access})).await,
        "verify after password change",
    );
    // A new login right away works (its iat is not before the revocation time).
    let (access, refresh) = create(&app, "alice", "new-pw").await;
    assert_eq!(whoami(&app, "/api/jwt/whoami", &access).await.0, 200);
    assert_eq!(post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh})).await.0, 200);
});

db_test!(concurrent_refreshes_yield_exactly_one_pair, settings = settings(), |app| {
    app.user("alice", "pw", false).await;
    let (_, refresh) = create(&app, "alice", "pw").await;
    let calls = (0..10).map(|_| post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh.clone()})));
    let results = futures_util::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    assert_eq!(ok, 1, "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    assert!(results.iter().all(|r| r.0 == 200 || r.0 == 401), "no 5xx");
});

db_test!(flush_deletes_expired_refresh_records_only, settings = settings(), |app| {
    use auth_runtime::schemes::jwt::entity::refresh;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    app.user("alice", "pw", false).await;
    let (_, r1) = create(&app, "alice", "pw").await;
    let (_, r2) = create(&app, "alice", "pw").await;
    let (_, _r3) = create(&app, "alice", "pw").await;
    assert_eq!(post(&app, "/api/auth/jwt/blacklist", json!({"refresh": r2})).await.0, 200);
    let jti1 = segments(&r1).1["jti"].as_str().unwrap().to_owned();
    refresh::Entity::update_many()
        .col_expr(refresh::Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::hours(1)))
        .filter(refresh::Column::Jti.eq(jti1))
        .exec(app.auth.db())
        .await
        .unwrap();
    let counts = auth_runtime::lifecycle::flush_expired(&app.auth).await.unwrap();
    assert_eq!(counts.get("refresh_tokens"), 1);
    assert_eq!(refresh::Entity::find().all(app.auth.db()).await.unwrap().len(), 2);
    assert_rejected(
        &post(&app, "/api/auth/jwt/refresh", json!({"refresh": r2})).await,
        "blacklisted, unexpired: still refused",
    );
});

db_test!(
    without_rotation_refresh_returns_access_only,
    settings = Settings { jwt: JwtConfig::default(), ..settings() },
    |app| {
        app.user("alice", "pw", false).await;
        let (_, refresh) = create(&app, "alice", "pw").await;
        for _ in 0..2 {
            let (status, _, body) = post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh})).await;
            assert_eq!(status, 200);
            assert!(body.get("refresh").is_none(), "{body}");
            assert_eq!(whoami(&app, "/api/jwt/whoami", body["access"].as_str().unwrap()).await.0, 200);
        }
    }
);

db_test!(
    lifetimes_come_from_settings,
    settings =
        Settings { jwt: JwtConfig { access_lifetime: 60, refresh_lifetime: 120, ..settings().jwt }, ..settings() },
    |app| {
        app.user("alice", "pw", false).await;
        let (access, refresh) = create(&app, "alice", "pw").await;
        let (_, ac) = segments(&access);
        let (_, rc) = segments(&refresh);
        assert_eq!(ac["exp"].as_u64().unwrap() - ac["iat"].as_u64().unwrap(), 60);
        assert_eq!(rc["exp"].as_u64().unwrap() - rc["iat"].as_u64().unwrap(), 120);
    }
);

db_test!(
    sliding_tokens_behind_a_setting,
    settings = Settings { jwt: JwtConfig { sliding: true, ..settings().jwt }, ..settings() },
    |app| {
        app.user("alice", "pw", false).await;
        let (status, _, body) =
            post(&app, "/api/auth/jwt/sliding/create", json!({"username": "alice", "password": "pw"})).await;
        assert_eq!(status, 200);
        let token = body["token"].as_str().unwrap().to_owned();
        let (h, c) = segments(&token);
        assert_eq!((h["typ"].as_str(), c["token_type"].as_str()), (Some("sliding+jwt"), Some("sliding")));
        assert!(c["refresh_exp"].as_u64().unwrap() > c["exp"].as_u64().unwrap());
        assert_eq!(whoami(&app, "/api/jwt/whoami", &token).await.0, 200);
        let (status, _, body) = post(&app, "/api/auth/jwt/sliding/refresh", json!({"token": token})).await;
        assert_eq!(status, 200);
        assert_eq!(segments(body["token"].as_str().unwrap()).1["refresh_exp"], c["refresh_exp"]);
        // An expired sliding token can still be refreshed within refresh_exp; not after it.
        let uid = c["user_id"].clone();
        let stale = forge(
            "sliding+jwt",
            &json!({"token_type": "sliding", "exp": now() - 5, "iat": now() - 400, "jti": "s", "user_id": uid, "refresh_exp": now() + 100}),
            SECRET.as_bytes(),
        );
        assert_rejected(&whoami(&app, "/api/jwt/whoami", &stale).await, "expired sliding");
        assert_eq!(post(&app, "/api/auth/jwt/sliding/refresh", json!({"token": stale})).await.0, 200);
        let dead = forge(
            "sliding+jwt",
            &json!({"token_type": "sliding", "exp": now() - 5, "iat": now() - 400, "jti": "s", "user_id": uid, "refresh_exp": now() - 1}),
            SECRET.as_bytes(),
        );
        assert_rejected(
            &post(&app, "/api/auth/jwt/sliding/refresh", json!({"token": dead})).await,
            "sliding refresh over",
        );
    }
);

db_test!(sliding_endpoints_are_off_by_default, settings = settings(), |app| {
    app.user("alice", "pw", false).await;
    let res = post(&app, "/api/auth/jwt/sliding/create", json!({"username": "alice", "password": "pw"})).await;
    assert_eq!(res.0, 401);
});

// ---- Apps of their own: algorithms, key rotation, chains ----

#[authentication(Jwt)]
async fn jwt_only(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"username": principal.username(), "scheme": principal.scheme}))
}

#[authentication(Jwt, Token)]
async fn jwt_then_token(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"username": principal.username(), "scheme": principal.scheme}))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/jwt", web::get().to(jwt_only)).route("/jwt-token", web::get().to(jwt_then_token)).service(
        web::scope("/api/auth")
            .configure(auth_runtime::schemes::jwt::jwt_routes)
            .configure(auth_runtime::schemes::token::token_routes),
    );
}

async fn app_with(backend: Backend, config: JwtConfig) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    let settings = Settings { jwt: config, ..settings() };
    let state = example_app::build_state(db.db.clone(), &settings).await.expect("auth");
    Some(TestApp::serve(db, state, Some(routes)))
}

/// A PEM key pair made by the `openssl` command: (private PKCS#8, public SPKI).
fn keypair(args: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("key.pem");
    let out = Command::new("openssl").arg("genpkey").args(args).arg("-out").arg(&private).output().expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let public = Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private).output().unwrap();
    assert!(public.status.success());
    (std::fs::read_to_string(&private).unwrap(), String::from_utf8(public.stdout).unwrap())
}

fn key_config(alg: &str) -> JwtConfig {
    let (private, public) = match alg {
        "HS256" | "HS384" | "HS512" => (Some("a-separate-hmac-secret-of-32-bytes-or-more".to_owned()), None),
        "ES256" => {
            let (k, p) = keypair(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
            (Some(k), Some(p))
        }
        "ES384" => {
            let (k, p) = keypair(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
            (Some(k), Some(p))
        }
        "EdDSA" => {
            let (k, p) = keypair(&["-algorithm", "ed25519"]);
            (Some(k), Some(p))
        }
        _ => {
            let (k, p) = keypair(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
            (Some(k), Some(p))
        }
    };
    JwtConfig { algorithm: alg.into(), signing_key: private, verifying_key: public, ..settings().jwt }
}

#[actix_web::rt::test]
async fn round_trip_with_every_algorithm() {
    let algorithms =
        ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
    for backend in backends() {
        for alg in algorithms {
            let app = app_with(backend, key_config(alg)).await.unwrap();
            app.user("alice", "pw", false).await;
            let (access, refresh) = create(&app, "alice", "pw").await;
            assert_eq!(segments(&access).0["alg"], alg);
            let (status, _, body) = whoami(&app, "/jwt", &access).await;
            assert_eq!((status, body["scheme"].as_str()), (200, Some("jwt")), "{alg}");
            let (status, _, body) = post(&app, "/api/auth/jwt/refresh", json!({"refresh": refresh})).await;
            assert_eq!(status, 200, "{alg}");
            assert_eq!(whoami(&app, "/jwt", body["access"].as_str().unwrap()).await.0, 200, "{alg}");
            // The same token with its header's alg switched to HS256 (key confusion) is refused.
            let mut parts_ = access.split('.');
            let header = parts_.next().unwrap();
            let rest: Vec<&str> = parts_.collect();
            let mut h: Value = serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
            h["alg"] = json!(if alg == "HS256" { "HS384" } else { "HS256" });
            let confused = format!("{}.{}", B64.encode(serde_json::to_vec(&h).unwrap()), rest.join("."));
            assert_rejected(&whoami(&app, "/jwt", &confused).await, alg);
            app.stop().await;
        }
    }
}

#[actix_web::rt::test]
async fn key_rotation_by_kid() {
    for backend in backends() {
        let old = JwtConfig { kid: Some("k1".into()), ..key_config("ES256") };
        let app = app_with(backend, old.clone()).await.unwrap();
        app.user("alice", "pw", false).await;
        let (old_access, _) = create(&app, "alice", "pw").await;
        assert_eq!(segments(&old_access).0["kid"], "k1");
        let TestApp { db, .. } = app;

        // New signing key k2 (another algorithm even); k1 still verifies.
        let new = JwtConfig {
            kid: Some("k2".into()),
            verifying_keys: vec![VerifyingKey {
                kid: "k1".into(),
                algorithm: "ES256".into(),
                key: old.verifying_key.clone().unwrap(),
            }],
            ..key_config("EdDSA")
        };
        let auth = example_app::build_auth(db.db.clone(), &Settings { jwt: new, ..settings() }).await.unwrap();
        let app = TestApp::serve_auth(db, auth, Some(routes)).await;
        assert_eq!(whoami(&app, "/jwt", &old_access).await.0, 200, "old key still verifies");
        let (new_access, _) = create(&app, "alice", "pw").await;
        assert_eq!(segments(&new_access).0["kid"], "k2");
        assert_eq!(whoami(&app, "/jwt", &new_access).await.0, 200);
        // A kid nobody knows, and k1's kid on a token signed with k2's algorithm, are refused.
        let (h, c) = segments(&new_access);
        let sig = new_access.rsplit('.').next().unwrap();
        let mut unknown = h.clone();
        unknown["kid"] = json!("k9");
        let enc = |v: &Value| B64.encode(serde_json::to_vec(v).unwrap());
        assert_rejected(&whoami(&app, "/jwt", &format!("{}.{}.{sig}", enc(&unknown), enc(&c))).await, "unknown kid");
        let mut swapped = h.clone();
        swapped["kid"] = json!("k1");
        assert_rejected(&whoami(&app, "/jwt", &format!("{}.{}.{sig}", enc(&swapped), enc(&c))).await, "kid swapped");
        app.stop().await;
    }
}

#[actix_web::rt::test]
async fn chain_jwt_then_token_and_opaque_bearer_passes_on() {
    for backend in backends() {
        let app = app_with(backend, settings().jwt).await.unwrap();
        app.user("alice", "pw", false).await;
        let (access, _) = create(&app, "alice", "pw").await;
        let key = app.token("alice", "pw").await;
        assert_eq!(whoami(&app, "/jwt-token", &access).await.2["scheme"], "jwt");
        let res =
            app.client.get(app.url("/jwt-token")).header("Authorization", format!("Token {key}")).send().await.unwrap();
        assert_eq!(parts(res).await.2["scheme"], "token");
        // An opaque Bearer value is not the Jwt scheme's: it passes on, and nobody claims it.
        let (status, challenges, body) = whoami(&app, "/jwt-token", "opaque-value").await;
        assert_eq!((status, body["code"].as_str()), (401, Some("not_authenticated")));
        assert_eq!(challenges, ["Bearer realm=\"api\"", "Token"]);
        // A broken JWT is rejected by Jwt and the chain stops.
        let (status, challenges, _) = whoami(&app, "/jwt-token", "a.b.c").await;
        assert_eq!(status, 401);
        assert!(challenges[0].contains("error=\"invalid_token\""), "{challenges:?}");
        assert_eq!(challenges[1], "Token");
        // Basic is not in this chain.
        let res =
            app.client.get(app.url("/jwt-token")).header("Authorization", basic("alice", "pw")).send().await.unwrap();
        assert_eq!(res.status(), 401);
        app.stop().await;
    }
}

#[actix_web::rt::test]
async fn audience_issuer_and_extra_claims() {
    for backend in backends() {
        let db = TestDb::new(backend).await.unwrap();
        let config = JwtConfig {
            audience: Some("books".into()),
            issuer: Some("https://issuer.test".into()),
            update_last_login: true,
            ..settings().jwt
        };
        let settings = Settings { jwt: config, ..settings() };
        let secret = auth_runtime::SecretKey::new(SECRET.as_bytes()).unwrap();
        let hook = jwt::JwtClaims(std::sync::Arc::new(|u: &auth_runtime::User| {
            let mut m = serde_json::Map::new();
            m.insert("name".into(), json!(u.username.to_uppercase()));
            m.insert("token_type".into(), json!("forged"));
            m
        }));
        let auth = Auth::builder(db.db.clone(), secret).settings(&settings).with_config(hook).build().expect("state");
        let app = TestApp::serve_auth(db, auth, Some(routes)).await;
        let user = app.user("alice", "pw", false).await;
        let (access, _) = create(&app, "alice", "pw").await;
        let (_, c) = segments(&access);
        assert_eq!(
            (c["aud"].as_str(), c["iss"].as_str(), c["name"].as_str()),
            (Some("books"), Some("https://issuer.test"), Some("ALICE"))
        );
        assert_eq!(c["token_type"], "access", "standard claims win over extra ones");
        assert_eq!(whoami(&app, "/jwt", &access).await.0, 200);
        let last_login = auth_runtime::users::entity::Entity::find_by_id(user.id)
            .one(app.auth.db())
            .await
            .unwrap()
            .unwrap()
            .last_login;
        assert!(last_login.is_some(), "update_last_login");
        let no_aud = forge(
            "at+jwt",
            &json!({"token_type": "access", "exp": now() + 300, "iat": now(), "jti": "x", "user_id": user.id.to_string(), "iss": "https://issuer.test"}),
            SECRET.as_bytes(),
        );
        assert_rejected(&whoami(&app, "/jwt", &no_aud).await, "missing aud");
        let wrong_iss = forge(
            "at+jwt",
            &json!({"token_type": "access", "exp": now() + 300, "iat": now(), "jti": "x", "user_id": user.id.to_string(), "aud": "books", "iss": "https://evil.test"}),
            SECRET.as_bytes(),
        );
        assert_rejected(&whoami(&app, "/jwt", &wrong_iss).await, "wrong iss");
        app.stop().await;
    }
}

use sea_orm::EntityTrait;
