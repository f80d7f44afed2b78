//! Token scheme details: hashed storage, expiry, the configurable keyword, last-used
//! times, header forms, and what the account lifecycle does to tokens; plus the re-hashing
//! of weak password hashes at login.

use auth_runtime::TokenConfig;
use auth_runtime::cache::Subject;
use auth_runtime::lifecycle;
use auth_runtime::schemes::token::{self, entity as tokens};
use auth_runtime::users::entity as users;
use chrono::{DateTime, Duration, Utc};
use example_app::Settings;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::DEFAULT_CHALLENGES;
use tests::{TestApp, basic, db_test};

const BASIC: &str = "Basic realm=\"api\", charset=\"UTF-8\"";

fn settings_with(token: TokenConfig) -> Settings {
    Settings { token, ..Settings::default() }
}

async fn all_tokens(app: &TestApp) -> Vec<tokens::Model> {
    tokens::Entity::find().all(app.auth.db()).await.unwrap()
}

async fn token_row(app: &TestApp, key: &str) -> tokens::Model {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    tokens::Entity::find()
        .filter(tokens::Column::Digest.eq(digest))
        .one(app.auth.db())
        .await
        .unwrap()
        .expect("token row")
}

/// Edits a token row behind the framework's back, then announces it as the README asks of
/// direct store edits (`Auth::revoked`), so the principal cache reads the row again.
async fn set_expires_at(app: &TestApp, id: i64, at: Option<DateTime<Utc>>) {
    let row = tokens::Entity::update(tokens::ActiveModel { id: Set(id), expires_at: Set(at), ..Default::default() })
        .exec(app.auth.db())
        .await
        .unwrap();
    app.auth.revoked(Subject::User(row.user_id)).await;
}

/// As [`set_expires_at`], for the last-used time.
async fn set_last_used_at(app: &TestApp, id: i64, at: Option<DateTime<Utc>>) {
    let row = tokens::Entity::update(tokens::ActiveModel { id: Set(id), last_used_at: Set(at), ..Default::default() })
        .exec(app.auth.db())
        .await
        .unwrap();
    app.auth.revoked(Subject::User(row.user_id)).await;
}

async fn password_hash(app: &TestApp, user_id: i64) -> String {
    users::Entity::find_by_id(user_id).one(app.auth.db()).await.unwrap().expect("user").password_hash
}

async fn set_password_hash(app: &TestApp, user_id: i64, hash: &str) {
    users::Entity::update(users::ActiveModel {
        id: Set(user_id),
        password_hash: Set(hash.to_owned()),
        ..Default::default()
    })
    .exec(app.auth.db())
    .await
    .unwrap();
}

fn token_header(key: &str) -> String {
    format!("Token {key}")
}

db_test!(tokens_are_stored_only_hashed, |app| {
    let alice = app.user("alice", "pw", false).await;
    let key = app.token("alice", "pw").await;
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{key}");
    let rows = all_tokens(&app).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.user_id, alice.id);
    assert_eq!(row.digest, hex::encode(Sha256::digest(key.as_bytes())));
    assert_eq!(row.prefix, key[..8]);
    assert_eq!(row.expires_at, None);
    assert_eq!(row.last_used_at, None);
    // No column holds the key, or any part of it beyond the 8-character prefix.
    let columns = [row.digest.clone(), row.prefix.clone(), format!("{:?}", row)];
    for column in &columns {
        assert!(!column.contains(&key), "{column}");
        assert!(!column.contains(&key[8..24]), "{column}");
    }
    // The same through raw SQL: every text column of the table.
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.auth.db();
    let stmt = Statement::from_string(db.get_database_backend(), "SELECT digest, prefix FROM auth_tokens");
    for row in db.query_all_raw(stmt).await.unwrap() {
        let digest: String = row.try_get("", "digest").unwrap();
        let prefix: String = row.try_get("", "prefix").unwrap();
        assert_ne!(digest, key);
        assert_ne!(prefix, key);
    }
    // Two tokens of the same user: two rows, distinct digests.
    let key2 = app.token("alice", "pw").await;
    let rows = all_tokens(&app).await;
    assert_eq!(rows.len(), 2);
    assert_ne!(rows[0].digest, rows[1].digest);
    assert_eq!(token_row(&app, &key2).await.prefix, key2[..8]);
});

db_test!(expired_tokens_are_refused, |app| {
    let alice = app.user("alice", "pw", false).await;
    // Created already expired.
    let expired = token::create_token(app.auth.db(), alice.id, Some(0)).await.unwrap();
    assert!(expired.record.expires_at.is_some());
    let (status, challenges, body) = app.get("/api/whoami", Some(&token_header(&expired.key))).await;
    assert_eq!(status, 401);
    assert_eq!(challenges, DEFAULT_CHALLENGES);
    assert_eq!(body, json!({"detail": "Token has expired.", "code": "authentication_failed"}));
    // A token that expires in an hour works; moved into the past in the store, it is refused.
    let later = token::create_token(app.auth.db(), alice.id, Some(3600)).await.unwrap();
    let (status, _, body) = app.get("/api/token/whoami", Some(&token_header(&later.key))).await;
    assert_eq!((status, body["scheme"].as_str()), (200, Some("token")));
    set_expires_at(&app, later.record.id, Some(Utc::now() - Duration::seconds(5))).await;
    let (status, challenges, body) = app.get("/api/token/whoami", Some(&token_header(&later.key))).await;
    assert_eq!((status, body["detail"].as_str()), (401, Some("Token has expired.")));
    assert_eq!(challenges, ["Token"]);
    // A token without expiry, obtained from the endpoint, moved into the past as well.
    let key = app.token("alice", "pw").await;
    let row = token_row(&app, &key).await;
    set_expires_at(&app, row.id, Some(Utc::now() - Duration::days(1))).await;
    let (status, _, body) = app.get("/api/whoami", Some(&token_header(&key))).await;
    assert_eq!((status, body["detail"].as_str()), (401, Some("Token has expired.")));
    // Expired tokens cannot revoke themselves either.
    let res =
        app.client.delete(app.url("/api/auth/token")).header("Authorization", token_header(&key)).send().await.unwrap();
    assert_eq!(res.status(), 401);
});

db_test!(expires_at_is_null_without_ttl, |app| {
    app.user("alice", "pw", false).await;
    let res = app
        .client
        .post(app.url("/api/auth/token"))
        .json(&json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("expires_at").is_some_and(Value::is_null), "{body}");
    let key = body["token"].as_str().unwrap();
    assert_eq!(token_row(&app, key).await.expires_at, None);
});

db_test!(
    expires_at_is_rfc3339_utc_with_z_when_ttl_is_set,
    settings = settings_with(TokenConfig { ttl: Some(3600), ..TokenConfig::default() }),
    |app| {
        app.user("alice", "pw", false).await;
        let before = Utc::now();
        let res = app
            .client
            .post(app.url("/api/auth/token"))
            .json(&json!({"username": "alice", "password": "pw"}))
            .send()
            .await
            .unwrap();
        let after = Utc::now();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        let text = body["expires_at"].as_str().unwrap_or_else(|| panic!("expires_at is a string: {body}"));
        // YYYY-MM-DDTHH:MM:SS[.fff]Z
        assert!(text.ends_with('Z'), "{text}");
        assert!(!text.contains("+00:00"), "{text}");
        let bytes = text.as_bytes();
        assert!(
            bytes.len() >= 20
                && bytes[4] == b'-'
                && bytes[7] == b'-'
                && bytes[10] == b'T'
                && bytes[13] == b':'
                && bytes[16] == b':',
            "{text}"
        );
        let at = DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).with_timezone(&Utc);
        assert!(at >= before + Duration::seconds(3600) - Duration::seconds(1), "{at} vs {before}");
        assert!(at <= after + Duration::seconds(3600) + Duration::seconds(1), "{at} vs {after}");
        // The stored expiry is the one announced (to the second).
        let key = body["token"].as_str().unwrap();
        let stored = token_row(&app, key).await.expires_at.expect("stored expiry");
        assert_eq!(stored.timestamp(), at.timestamp());
        let (status, _, me) = app.get("/api/whoami", Some(&token_header(key))).await;
        assert_eq!((status, me["scheme"].as_str()), (200, Some("token")));
    }
);

db_test!(
    configurable_keyword,
    settings = settings_with(TokenConfig { keyword: "Key".into(), ..TokenConfig::default() }),
    |app| {
        app.user("alice", "pw", false).await;
        let key = app.token("alice", "pw").await;
        for kw in ["Key", "key", "KEY"] {
            let (status, _, body) = app.get("/api/whoami", Some(&format!("{kw} {key}"))).await;
            assert_eq!((status, body), (200, json!({"username": "alice", "scheme": "token"})), "{kw}");
        }
        let (status, _, body) = app.get("/api/token/whoami", Some(&format!("Key {key}"))).await;
        assert_eq!((status, body["scheme"].as_str()), (200, Some("token")));
        // `Token` is no longer this scheme's keyword: no credentials.
        let (status, challenges, body) = app.get("/api/whoami", Some(&token_header(&key))).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("not_authenticated")));
        assert_eq!(challenges, [BASIC, "Key", "Bearer realm=\"api\""]);
        let (status, challenges, body) = app.get("/api/token/whoami", Some(&token_header(&key))).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("not_authenticated")));
        assert_eq!(challenges, ["Key"]);
        let (status, challenges, _) = app.get("/api/whoami", None).await;
        assert_eq!(
            (status, challenges),
            (401, vec![BASIC.to_owned(), "Key".to_owned(), "Bearer realm=\"api\"".to_owned()])
        );
        // A wrong key under the right keyword is rejected, with the `Key` challenge.
        let (status, challenges, body) = app.get("/api/whoami", Some(&format!("Key {}", "0".repeat(64)))).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
        assert_eq!(challenges, [BASIC, "Key", "Bearer realm=\"api\""]);
        // The token routes follow the keyword.
        let res = app
            .client
            .delete(app.url("/api/auth/token"))
            .header("Authorization", token_header(&key))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let res = app
            .client
            .delete(app.url("/api/auth/token"))
            .header("Authorization", format!("Key {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let (status, _, _) = app.get("/api/whoami", Some(&format!("Key {key}"))).await;
        assert_eq!(status, 401);
    }
);

db_test!(
    last_used_at_is_recorded_at_most_once_per_interval,
    settings = settings_with(TokenConfig { last_used_interval: 3600, ..TokenConfig::default() }),
    |app| {
        app.user("alice", "pw", false).await;
        let key = app.token("alice", "pw").await;
        let row = token_row(&app, &key).await;
        assert_eq!(row.last_used_at, None);
        // A refused request does not count as a use.
        let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "wrong"))).await;
        assert_eq!(status, 401);
        assert_eq!(token_row(&app, &key).await.last_used_at, None);
        let (status, _, _) = app.get("/api/whoami", Some(&token_header(&key))).await;
        assert_eq!(status, 200);
        let first = token_row(&app, &key).await.last_used_at.expect("last_used_at set after a use");
        assert!(first >= row.created_at, "{first} >= {}", row.created_at);
        // Within the interval: not written again.
        let recent = Utc::now() - Duration::seconds(60);
        set_last_used_at(&app, row.id, Some(recent)).await;
        let (status, _, _) = app.get("/api/whoami", Some(&token_header(&key))).await;
        assert_eq!(status, 200);
        let kept = token_row(&app, &key).await.last_used_at.unwrap();
        assert_eq!(kept.timestamp_micros(), recent.timestamp_micros(), "not rewritten within the interval");
        // Past the interval: written again.
        let old = Utc::now() - Duration::hours(2);
        set_last_used_at(&app, row.id, Some(old)).await;
        let (status, _, _) = app.get("/api/whoami", Some(&token_header(&key))).await;
        assert_eq!(status, 200);
        let renewed = token_row(&app, &key).await.last_used_at.unwrap();
        assert!(renewed > old + Duration::minutes(119), "{renewed} vs {old}");
    }
);

db_test!(malformed_token_headers, |app| {
    app.user("alice", "pw", false).await;
    let key = app.token("alice", "pw").await;
    let cases = [
        (format!("Token {key} extra"), "Invalid token header. Token string should not contain spaces."),
        ("Token a b".to_owned(), "Invalid token header. Token string should not contain spaces."),
        ("Token".to_owned(), "Invalid token header. No credentials provided."),
        ("Token   ".to_owned(), "Invalid token header. No credentials provided."),
        (format!("Token {}", "z".repeat(64)), "Invalid token."),
        (format!("Token {}", "0123456789abcdeX".repeat(4)), "Invalid token."),
        (format!("Token {}", key.to_ascii_uppercase()), "Invalid token."),
        (format!("Token {}", &key[..63]), "Invalid token."),
        (format!("Token {key}0"), "Invalid token."),
        (format!("Token {}", "0".repeat(64)), "Invalid token."),
    ];
    for (header, detail) in cases {
        for path in ["/api/whoami", "/api/token/whoami"] {
            let (status, challenges, body) = app.get(path, Some(&header)).await;
            assert_eq!(status, 401, "{path} {header:?}");
            assert_eq!(body, json!({"detail": detail, "code": "authentication_failed"}), "{path} {header:?}");
            let expected: &[&str] = if path == "/api/whoami" { &DEFAULT_CHALLENGES } else { &["Token"] };
            assert_eq!(challenges, expected, "{path} {header:?}");
        }
    }
    // The real key still works (none of the above revoked or locked it).
    let (status, _, _) = app.get("/api/whoami", Some(&token_header(&key))).await;
    assert_eq!(status, 200);
});

db_test!(change_password_revokes_every_token, |app| {
    let alice = app.user("alice", "old-pw", false).await;
    let bob = app.user("bob", "pw", false).await;
    let k1 = app.token("alice", "old-pw").await;
    let k2 = app.token("alice", "old-pw").await;
    let kb = app.token("bob", "pw").await;
    let changed = lifecycle::change_password(&app.auth, "alice", "new-pw").await.unwrap();
    assert_eq!(changed.id, alice.id);
    for key in [&k1, &k2] {
        let (status, challenges, body) = app.get("/api/whoami", Some(&token_header(key))).await;
        assert_eq!((status, body["detail"].as_str()), (401, Some("Invalid token.")));
        assert_eq!(challenges, DEFAULT_CHALLENGES);
    }
    let left: Vec<_> = all_tokens(&app).await.into_iter().map(|t| t.user_id).collect();
    assert_eq!(left, [bob.id], "only bob's token is left");
    let (status, _, _) = app.get("/api/whoami", Some(&token_header(&kb))).await;
    assert_eq!(status, 200, "other users keep their tokens");
    let (status, _, body) = app.get("/api/whoami", Some(&basic("alice", "old-pw"))).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
    let (status, _, body) = app.get("/api/whoami", Some(&basic("alice", "new-pw"))).await;
    assert_eq!((status, body), (200, json!({"username": "alice", "scheme": "basic"})));
    assert!(password_hash(&app, alice.id).await.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    // Unknown user.
    assert!(matches!(
        lifecycle::change_password(&app.auth, "nobody", "x").await,
        Err(lifecycle::LifecycleError::UnknownUser(name)) if name == "nobody"
    ));
});

db_test!(delete_user_removes_their_tokens, |app| {
    let alice = app.user("alice", "pw", false).await;
    let bob = app.user("bob", "pw", false).await;
    let ka = app.token("alice", "pw").await;
    token::create_token(app.auth.db(), alice.id, Some(0)).await.unwrap();
    let kb = app.token("bob", "pw").await;
    lifecycle::delete_user(&app.auth, "alice").await.unwrap();
    let rows = all_tokens(&app).await;
    assert!(rows.iter().all(|t| t.user_id == bob.id), "{rows:?}");
    assert_eq!(rows.len(), 1);
    assert!(users::Entity::find_by_id(alice.id).one(app.auth.db()).await.unwrap().is_none());
    let (status, _, body) = app.get("/api/whoami", Some(&token_header(&ka))).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
    assert_eq!(status, 401);
    let (status, _, _) = app.get("/api/whoami", Some(&token_header(&kb))).await;
    assert_eq!(status, 200);
    assert!(matches!(lifecycle::delete_user(&app.auth, "alice").await, Err(lifecycle::LifecycleError::UnknownUser(_))));
});

db_test!(flush_expired_counts_and_deletes_only_expired_tokens, |app| {
    let alice = app.user("alice", "pw", false).await;
    let bob = app.user("bob", "pw", false).await;
    let db = app.auth.db();
    let expired_now = token::create_token(db, alice.id, Some(0)).await.unwrap();
    let moved = token::create_token(db, alice.id, Some(3600)).await.unwrap();
    set_expires_at(&app, moved.record.id, Some(Utc::now() - Duration::days(30))).await;
    let bobs_expired = token::create_token(db, bob.id, Some(0)).await.unwrap();
    let future = token::create_token(db, alice.id, Some(3600)).await.unwrap();
    let forever = token::create_token(db, alice.id, None).await.unwrap();
    let bobs_forever = token::create_token(db, bob.id, None).await.unwrap();
    let counts = lifecycle::flush_expired(&app.auth).await.unwrap();
    assert_eq!(
        counts,
        lifecycle::FlushCounts(vec![("api_tokens", 3), ("refresh_tokens", 0), ("sessions", 0), ("oauth2", 0)])
    );
    let mut left: Vec<i64> = all_tokens(&app).await.into_iter().map(|t| t.id).collect();
    left.sort_unstable();
    let mut expected = vec![future.record.id, forever.record.id, bobs_forever.record.id];
    expected.sort_unstable();
    assert_eq!(left, expected);
    for gone in [&expired_now, &moved, &bobs_expired] {
        assert!(!left.contains(&gone.record.id));
    }
    for kept in [&future, &forever, &bobs_forever] {
        let (status, _, _) = app.get("/api/whoami", Some(&token_header(&kept.key))).await;
        assert_eq!(status, 200);
    }
    // Nothing left to flush.
    let again = lifecycle::flush_expired(&app.auth).await.unwrap();
    assert_eq!(again.0.len(), 4, "{again:?}");
    assert!(again.0.iter().all(|(_, count)| *count == 0), "{again:?}");
});

/// An argon2 PHC string of `password` with the given algorithm and costs.
fn hash_with(algorithm: argon2::Algorithm, m: u32, t: u32, p: u32, password: &str) -> String {
    use argon2::{Argon2, Params, PasswordHasher, Version};
    let params = Params::new(m, t, p, None).unwrap();
    Argon2::new(algorithm, Version::V0x13, params).hash_password(password.as_bytes()).unwrap().to_string()
}

const STRONG: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

db_test!(weak_password_hash_is_rehashed_after_basic_login, |app| {
    let alice = app.user("alice", "placeholder", false).await;
    let weak = hash_with(argon2::Algorithm::Argon2id, 1024, 1, 1, "pw");
    assert!(weak.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{weak}");
    set_password_hash(&app, alice.id, &weak).await;
    // A wrong password does not touch the hash.
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "wrong"))).await;
    assert_eq!(status, 401);
    assert_eq!(password_hash(&app, alice.id).await, weak);
    // The right one logs in and upgrades it.
    let (status, _, body) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
    assert_eq!((status, body["username"].as_str()), (200, Some("alice")));
    let upgraded = password_hash(&app, alice.id).await;
    assert!(upgraded.starts_with(STRONG), "{upgraded}");
    assert_ne!(upgraded, weak);
    // The new hash verifies the same password, and is not rewritten again.
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
    assert_eq!(status, 200);
    assert_eq!(password_hash(&app, alice.id).await, upgraded);
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "wrong"))).await;
    assert_eq!(status, 401);
});

db_test!(weak_or_other_algorithm_hashes_are_rehashed_at_token_login, |app| {
    let alice = app.user("alice", "placeholder", false).await;
    for (what, hash) in [
        ("argon2id, t=1", hash_with(argon2::Algorithm::Argon2id, 19456, 1, 1, "pw")),
        ("argon2i", hash_with(argon2::Algorithm::Argon2i, 19456, 2, 1, "pw")),
        ("argon2id, m=8192", hash_with(argon2::Algorithm::Argon2id, 8192, 3, 1, "pw")),
    ] {
        set_password_hash(&app, alice.id, &hash).await;
        let key = app.token("alice", "pw").await;
        let now = password_hash(&app, alice.id).await;
        assert!(now.starts_with(STRONG), "{what}: {now}");
        let (status, _, _) = app.get("/api/whoami", Some(&token_header(&key))).await;
        assert_eq!(status, 200, "{what}");
        let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
        assert_eq!(status, 200, "{what}");
    }
    // Stronger than the minimum: kept as is.
    let strong = hash_with(argon2::Algorithm::Argon2id, 32768, 3, 1, "pw");
    set_password_hash(&app, alice.id, &strong).await;
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
    assert_eq!(status, 200);
    assert_eq!(password_hash(&app, alice.id).await, strong);
});
