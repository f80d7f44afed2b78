//! A scheme of the application's own (`X-Api-Key`), named in `#[authentication(...)]` and in
//! the settings' default chain beside the built-in ones, with its configuration bound by
//! `#[derive(AuthSettings)]`: over real HTTP on SQLite and PostgreSQL.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use auth_runtime::{
    Auth, AuthError, AuthSettings, MaybePrincipal, Outcome, Principal, Scheme, SchemeData, authentication, permission,
};
use subtle::ConstantTimeEq;
use tests::{Backend, TestApp, TestDb, basic, parts, test_secret};

/// `X-Api-Key: <key>`: a key of the configuration, mapped to a user.
pub struct ApiKey;

/// The keys the [`ApiKey`] scheme accepts, and whose user each one is.
#[derive(Clone, Default)]
pub struct ApiKeyConfig {
    keys: HashMap<String, String>,
}

impl Scheme for ApiKey {
    const NAME: &'static str = "api_key";
    type Config = ApiKeyConfig;

    async fn authenticate(cx: &auth_runtime::Context<'_>) -> Outcome {
        let (req, auth) = (cx.request(), cx.auth());
        let Some(given) = req.headers().get("x-api-key") else { return Outcome::NoCredentials };
        let config = auth.config::<ApiKeyConfig>().cloned().unwrap_or_default();
        // Every key is compared, in constant time, whichever matches.
        let mut owner = None;
        for (key, username) in &config.keys {
            if bool::from(key.as_bytes().ct_eq(given.as_bytes())) {
                owner = Some(username.clone());
            }
        }
        let Some(username) = owner else { return Outcome::Rejected(AuthError::failed("Invalid API key.")) };
        match auth.users().by_login(&username).await {
            Ok(Some(stored)) if stored.user.is_active => Outcome::Authenticated(Principal::for_user(
                stored.user,
                Self::NAME,
                SchemeData::Custom("api key".into()),
            )),
            Ok(_) => Outcome::Rejected(AuthError::failed("Invalid API key.")),
            Err(e) => Outcome::Rejected(AuthError::store(e)),
        }
    }

    fn challenge(_: &Auth, _: Option<&AuthError>) -> Option<String> {
        Some("ApiKey realm=\"api\"".into())
    }
}

#[derive(AuthSettings, Clone, Default)]
#[auth(chain(ApiKey, Token, Basic))]
struct Settings {
    #[auth(token)]
    token: auth_runtime::TokenConfig,
    #[auth(basic)]
    basic: auth_runtime::BasicConfig,
    #[auth(scheme = ApiKey)]
    api_key: ApiKeyConfig,
}

fn whoami(p: &Principal) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"username": p.username(), "scheme": p.scheme}))
}

/// The settings' default chain: ApiKey, Token, Basic.
async fn default_chain(p: Principal) -> HttpResponse {
    whoami(&p)
}

/// The user's scheme second, after a built-in one.
#[authentication(Token, ApiKey)]
async fn reports(p: Principal) -> HttpResponse {
    whoami(&p)
}

/// The user's scheme by its path, anonymous requests allowed.
#[authentication(self::ApiKey)]
#[permission(AllowAny)]
async fn by_path(p: MaybePrincipal) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"anonymous": p.0.is_none()}))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/default", web::get().to(default_chain))
        .route("/reports", web::get().to(reports))
        .route("/by-path", web::get().to(by_path));
}

async fn start(backend: Backend) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    let settings = Settings {
        api_key: ApiKeyConfig { keys: HashMap::from([("k-alice-0123456789".into(), "alice".into())]) },
        ..Settings::default()
    };
    let auth = Auth::builder(db.db.clone(), test_secret()).settings(&settings).build().expect("state");
    Some(TestApp::serve_auth(db, auth, Some(routes)).await)
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<String>, serde_json::Value) {
    let mut req = app.client.get(app.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    parts(req.send().await.unwrap()).await
}

const API_KEY: (&str, &str) = ("X-Api-Key", "k-alice-0123456789");
const WRONG_KEY: (&str, &str) = ("X-Api-Key", "k-alice-0123456780");
const API_KEY_CHALLENGE: &str = "ApiKey realm=\"api\"";
const BASIC_CHALLENGE: &str = "Basic realm=\"api\", charset=\"UTF-8\"";

async fn custom_scheme_in_a_chain(backend: Backend) {
    let Some(app) = start(backend).await else { return };
    let alice = app.user("alice", "alice-pass", false).await;
    let token = app.token_for(&alice).await;
    let token_header = format!("Token {token}");

    // No credentials: 401 with every challenge of the chain, in chain order.
    let (status, challenges, body) = get(&app, "/reports", &[]).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("not_authenticated")));
    assert_eq!(challenges, ["Token", API_KEY_CHALLENGE]);
    let (status, challenges, _) = get(&app, "/default", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(challenges, [API_KEY_CHALLENGE, "Token", BASIC_CHALLENGE]);

    // Success through the user's scheme, in either position.
    for path in ["/reports", "/default"] {
        let (status, _, body) = get(&app, path, &[API_KEY]).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body, serde_json::json!({"username": "alice", "scheme": "api_key"}));
    }
    let (status, _, body) = get(&app, "/by-path", &[API_KEY]).await;
    assert_eq!((status, body["anonymous"].as_bool()), (200, Some(false)));
    let (status, _, body) = get(&app, "/by-path", &[]).await;
    assert_eq!((status, body["anonymous"].as_bool()), (200, Some(true)));

    // Rejection by the user's scheme: 401, its challenge listed among the others.
    let (status, challenges, body) = get(&app, "/reports", &[WRONG_KEY]).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
    assert_eq!(body["detail"], "Invalid API key.");
    assert_eq!(challenges, ["Token", API_KEY_CHALLENGE]);

    // Chain order: on /reports Token comes first and wins; on /default the rejected key
    // stops the chain before Token is tried.
    let both: [(&str, &str); 2] = [("Authorization", &token_header), WRONG_KEY];
    let (status, _, body) = get(&app, "/reports", &both).await;
    assert_eq!((status, body["scheme"].as_str()), (200, Some("token")));
    let (status, challenges, _) = get(&app, "/default", &both).await;
    assert_eq!(status, 401);
    assert_eq!(challenges, [API_KEY_CHALLENGE, "Token", BASIC_CHALLENGE]);

    // The built-in schemes of the same chains still work.
    let (status, _, body) = get(&app, "/default", &[("Authorization", &basic("alice", "alice-pass"))]).await;
    assert_eq!((status, body["scheme"].as_str()), (200, Some("basic")));
    let (status, _, body) = get(&app, "/default", &[("Authorization", &token_header)]).await;
    assert_eq!((status, body["scheme"].as_str()), (200, Some("token")));
    app.stop().await;
}

#[actix_web::rt::test]
async fn custom_scheme_in_a_chain_sqlite() {
    custom_scheme_in_a_chain(Backend::Sqlite).await;
}

#[actix_web::rt::test]
async fn custom_scheme_in_a_chain_postgres() {
    custom_scheme_in_a_chain(Backend::Postgres).await;
}
