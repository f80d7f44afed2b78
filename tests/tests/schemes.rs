//! Basic and Token over real HTTP against a real database, through the example app.

use tests::DEFAULT_CHALLENGES;
use tests::{basic, db_test, parts};

db_test!(anonymous_gets_401_with_every_challenge_in_chain_order, |app| {
    let (status, challenges, body) = parts(app.client.get(app.url("/api/whoami")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(challenges, DEFAULT_CHALLENGES);
    assert_eq!(body["code"], "not_authenticated");
});

db_test!(basic_authenticates_and_reports_scheme, |app| {
    app.user("alice", "pa:ss w\u{f6}rd", false).await;
    for keyword in ["Basic", "basic", "BASIC"] {
        let header = basic("alice", "pa:ss w\u{f6}rd").replacen("Basic", keyword, 1);
        let res = app.client.get(app.url("/api/whoami")).header("Authorization", header).send().await.unwrap();
        let (status, _, body) = parts(res).await;
        assert_eq!(status, 200, "{keyword}");
        assert_eq!(body, serde_json::json!({"username": "alice", "scheme": "basic"}));
    }
});

db_test!(basic_wrong_password_and_unknown_user_answer_the_same, |app| {
    app.user("alice", "right", false).await;
    let wrong = parts(
        app.client.get(app.url("/api/whoami")).header("Authorization", basic("alice", "wrong")).send().await.unwrap(),
    )
    .await;
    let unknown = parts(
        app.client.get(app.url("/api/whoami")).header("Authorization", basic("nobody", "wrong")).send().await.unwrap(),
    )
    .await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.1, DEFAULT_CHALLENGES);
    assert_eq!(wrong.2["code"], "authentication_failed");
});

db_test!(basic_malformed_headers_each_get_their_own_401, |app| {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"Basic".to_vec(), "No credentials provided"),
        (b"Basic abc def".to_vec(), "should not contain spaces"),
        (b"Basic !!!notbase64".to_vec(), "base64"),
        (format!("Basic {}", b64(b"alice")).into_bytes(), "username:password"),
        (format!("Basic {}", b64(&[0xff, 0xfe, b':', b'x'])).into_bytes(), "UTF-8"),
    ];
    for (header, needle) in cases {
        let value = reqwest::header::HeaderValue::from_bytes(&header).unwrap();
        let (status, challenges, body) =
            parts(app.client.get(app.url("/api/whoami")).header("Authorization", value).send().await.unwrap()).await;
        assert_eq!(status, 401, "{needle}");
        assert_eq!(challenges, DEFAULT_CHALLENGES);
        assert_eq!(body["code"], "authentication_failed");
        assert!(body["detail"].as_str().unwrap().contains(needle), "{needle}: {body}");
    }
});

db_test!(inactive_user_is_refused_by_basic_and_token, |app| {
    app.user("bob", "pw", false).await;
    let token = app.token("bob", "pw").await;
    auth_runtime::lifecycle::set_active(&app.auth, "bob", false).await.unwrap();
    let by_basic =
        app.client.get(app.url("/api/whoami")).header("Authorization", basic("bob", "pw")).send().await.unwrap();
    assert_eq!(by_basic.status(), 401);
    let by_token =
        app.client.get(app.url("/api/whoami")).header("Authorization", format!("Token {token}")).send().await.unwrap();
    assert_eq!(by_token.status(), 401);
    auth_runtime::lifecycle::set_active(&app.auth, "bob", true).await.unwrap();
    let again =
        app.client.get(app.url("/api/whoami")).header("Authorization", format!("Token {token}")).send().await.unwrap();
    assert_eq!(again.status(), 200, "an unexpired token works again after activation");
});

db_test!(token_obtain_use_and_revoke, |app| {
    app.user("carol", "pw", false).await;
    let t1 = app.token("carol", "pw").await;
    let t2 = app.token("carol", "pw").await;
    assert_ne!(t1, t2, "one token per client or device");
    assert_eq!(t1.len(), 64);
    for t in [&t1, &t2] {
        for kw in ["Token", "token", "TOKEN"] {
            let res = app
                .client
                .get(app.url("/api/whoami"))
                .header("Authorization", format!("{kw} {t}"))
                .send()
                .await
                .unwrap();
            let (status, _, body) = parts(res).await;
            assert_eq!((status, body["scheme"].as_str()), (200, Some("token")));
        }
    }
    // DELETE /api/auth/token revokes only the token used.
    let res = app
        .client
        .delete(app.url("/api/auth/token"))
        .header("Authorization", format!("Token {t1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, challenges, body) = parts(
        app.client.get(app.url("/api/whoami")).header("Authorization", format!("Token {t1}")).send().await.unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
    assert_eq!(challenges, DEFAULT_CHALLENGES);
    let ok =
        app.client.get(app.url("/api/whoami")).header("Authorization", format!("Token {t2}")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    // DELETE /api/auth/tokens revokes all.
    let t3 = app.token("carol", "pw").await;
    let res = app
        .client
        .delete(app.url("/api/auth/tokens/"))
        .header("Authorization", format!("Token {t3}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    for t in [&t2, &t3] {
        let res =
            app.client.get(app.url("/api/whoami")).header("Authorization", format!("Token {t}")).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
});

db_test!(token_routes_accept_only_the_token_scheme, |app| {
    app.user("dave", "pw", false).await;
    for path in ["/api/auth/token", "/api/auth/tokens"] {
        let (status, challenges, body) =
            parts(app.client.delete(app.url(path)).header("Authorization", basic("dave", "pw")).send().await.unwrap())
                .await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(challenges, ["Token"]);
        assert_eq!(body["code"], "not_authenticated");
    }
});
