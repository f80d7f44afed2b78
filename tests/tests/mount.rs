//! `mount::app` mounts the framework's endpoint groups under the prefixes of the settings'
//! `endpoints` section, and the links and redirects follow them: over real HTTP.

use auth_runtime::EndpointsConfig;
use auth_runtime::schemes::oauth2::{GrantType, NewApplication, create_application};
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use tests::{Backend, TestApp, parts};

fn settings() -> example_app::Settings {
    example_app::Settings {
        endpoints: EndpointsConfig {
            api: Some("/v1/auth".into()),
            login_page: Some("/v1/login".into()),
            oauth2: Some("/v1/oauth".into()),
        },
        ..example_app::Settings::default()
    }
}

async fn endpoints_follow_their_prefixes(backend: Backend) {
    let Some(app) = TestApp::with_settings(backend, settings()).await else { return };
    app.user("alice", "alice-pass", false).await;
    let raw = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    let login = json!({"username": "alice", "password": "alice-pass"});

    // The JSON API moved: token and JWT under /v1/auth, nothing left at /api/auth.
    let (status, _, body) = parts(app.client.post(app.url("/v1/auth/token")).json(&login).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let token = format!("Token {}", body["token"].as_str().unwrap());
    assert_eq!(app.get("/api/whoami", Some(&token)).await.0, 200);
    let (status, _, body) =
        parts(app.client.post(app.url("/v1/auth/jwt/create")).json(&login).send().await.unwrap()).await;
    assert_eq!((status, body["access"].is_string()), (200, true), "{body}");
    let (status, _, body) = parts(app.client.post(app.url("/api/auth/token")).json(&login).send().await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, _, body) = parts(app.client.get(app.url("/v1/auth/csrf")).send().await.unwrap()).await;
    assert_eq!((status, body["csrf_token"].is_string()), (200, true));

    // The login page lives at /v1/login, and its form posts there.
    let page = app.client.get(app.url("/v1/login?next=/api/whoami")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"action="/v1/login""#), "{html}");
    assert_eq!(app.client.get(app.url("/accounts/login")).send().await.unwrap().status(), 404);

    // OAuth2: the metadata names the moved endpoints, and /v1/oauth/authorize sends an
    // anonymous browser to /v1/login, coming back to itself.
    let meta: Value =
        app.client.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert!(meta["authorization_endpoint"].as_str().unwrap().ends_with("/v1/oauth/authorize"), "{meta}");
    assert!(meta["token_endpoint"].as_str().unwrap().ends_with("/v1/oauth/token"), "{meta}");
    let client = create_application(
        &app.auth,
        NewApplication {
            name: "web".into(),
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["https://client.example/cb".into()],
            public: true,
            scopes: vec![],
            owner_id: None,
        },
    )
    .await
    .unwrap();
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client.record.client_id.as_str()),
        ("redirect_uri", "https://client.example/cb"),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let res = raw.get(app.url(&format!("/v1/oauth/authorize?{query}"))).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let expected = serde_urlencoded::to_string([("next", format!("/v1/oauth/authorize?{query}"))]).unwrap();
    assert_eq!(location, format!("/v1/login?{expected}"));
    assert_eq!(raw.get(app.url(&format!("/o/authorize?{query}"))).send().await.unwrap().status(), 404);
    app.stop().await;
}

#[actix_web::rt::test]
async fn endpoints_follow_their_prefixes_sqlite() {
    endpoints_follow_their_prefixes(Backend::Sqlite).await;
}

#[actix_web::rt::test]
async fn endpoints_follow_their_prefixes_postgres() {
    endpoints_follow_their_prefixes(Backend::Postgres).await;
}

/// Every built-in scheme describes itself for an API document (an OpenAPI security scheme),
/// from the settings: the OAuth2 URLs follow the mount prefix, the Token keyword and the
/// session cookie name their configuration; a scheme without a description is left out.
#[actix_web::rt::test]
async fn schemes_describe_themselves_for_an_api_document() {
    use auth_runtime::apidoc::{KeyLocation, SchemeDocKind};
    use auth_runtime::schemes::{Basic, Jwt, OAuth2, Session, Token};
    use auth_runtime::{Chain, Scheme};

    let Some(db) = tests::TestDb::new(Backend::Sqlite).await else { return };
    let auth = auth_runtime::Auth::builder(db.db.clone(), tests::test_secret()).settings(&settings()).build().unwrap();
    let docs = <(Session, Token, Jwt, Basic, OAuth2) as Chain>::describe(&auth);
    let names: Vec<_> = docs.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["session", "token", "jwt", "basic", "oauth2"]);
    let kinds: Vec<_> = docs.into_iter().map(|(_, doc)| doc.kind).collect();
    assert_eq!(kinds[0], SchemeDocKind::ApiKey { location: KeyLocation::Cookie, name: "sessionid".into() });
    assert_eq!(kinds[1], SchemeDocKind::ApiKey { location: KeyLocation::Header, name: "Authorization".into() });
    assert_eq!(kinds[2], SchemeDocKind::Http { scheme: "bearer".into(), bearer_format: Some("JWT") });
    assert_eq!(kinds[3], SchemeDocKind::Http { scheme: "basic".into(), bearer_format: None });
    let SchemeDocKind::OAuth2 { authorization_url, token_url, scopes } = &kinds[4] else { panic!("{:?}", kinds[4]) };
    assert_eq!((authorization_url.as_deref(), token_url.as_str()), (Some("/v1/oauth/authorize"), "/v1/oauth/token"));
    assert_eq!(scopes.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["read", "write"]);
    assert!(Token::describe(&auth).unwrap().description.contains("Authorization: Token <token>"));

    // The settings' chain describes its own schemes, in its order.
    let default: Vec<_> =
        <auth_runtime::__private::DefaultChain as Chain>::describe(&auth).into_iter().map(|(n, _)| n).collect();
    assert_eq!(default, ["session", "basic", "token", "jwt", "oauth2"]);

    // A scheme that does not describe itself (the trait's default) is left out.
    struct Quiet;
    impl Scheme for Quiet {
        const NAME: &'static str = "quiet";
        type Config = ();
        async fn authenticate(_: &auth_runtime::Context<'_>) -> auth_runtime::Outcome {
            auth_runtime::Outcome::NoCredentials
        }
        fn challenge(_: &auth_runtime::Auth, _: Option<&auth_runtime::AuthError>) -> Option<String> {
            None
        }
    }
    let names: Vec<_> = <(Quiet, Basic) as Chain>::describe(&auth).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["basic"]);
}
