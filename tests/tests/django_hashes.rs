//! Password hashes imported from Django (a team moving from Django REST Framework copies
//! `auth_user.password` into `users.password_hash`): they verify at login over HTTP, and the
//! first good login stores an argon2id hash in their place; a wrong password changes nothing.
//! The hashes below were made by Django 5.2.19's hashers (`make_password`), with argon2-cffi
//! 25.1 and bcrypt 5.0.

use auth_runtime::passwords::PasswordHasher;
use auth_runtime::users::entity as users;
use sea_orm::{ConnectionTrait, EntityTrait};
use tests::{Backend, TestApp, TestDb, basic, db_test};

/// Django's default hasher with its default 1 000 000 iterations, of the password `pw`.
const DJANGO_PBKDF2_SHA256: &str =
    "pbkdf2_sha256$1000000$fCMhhUnUBZtnSkQATwDbkj$vHEORuRmQp6yU4du/DVORJzTsg+PzkcrgNTpUgf5B6U=";
/// Of `correct horse`, by hasher subclasses of lower cost (1000 iterations; argon2
/// m=1024,t=1,p=2; bcrypt rounds 4).
const DJANGO_FAST: [(&str, &str); 4] = [
    ("pbkdf2_sha1", "pbkdf2_sha1$1000$izce3W3vmjYoOjSv6rcfrk$laTzU1QnnpwxKyV3x9vRkx3rZ+o="),
    (
        "argon2",
        "argon2$argon2id$v=19$m=1024,t=1,p=2$NndtMldHTFJzS0YzUVc1ZlByZGtERw$hEEd6b2whQ/zDL6zVou41L4idCaRGxtlWNtifHzVV94",
    ),
    ("bcrypt_sha256", "bcrypt_sha256$$2b$04$lr7.3/dYtX/Lo9eNQcMxtuB4OD0js8o/TUfekmFrwxrJ43PAic7pS"),
    ("bcrypt", "bcrypt$$2b$04$X81tM8hbpIjoG2nEPqoziOwduwTbYLtgbTMXN/SfutnlOnITi1nt6"),
];
const DJANGO_PASSWORD: &str = "correct horse";
/// What a new hash of the default settings starts with.
const ARGON2ID: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// Sets the stored hash of `username` with a plain SQL `UPDATE`, as a migration script
/// copying Django's `auth_user.password` would (the hashes hold no quote).
async fn import_hash(app: &TestApp, username: &str, hash: &str) {
    assert!(!hash.contains('\'') && !username.contains('\''));
    let sql = format!("UPDATE users SET password_hash = '{hash}' WHERE username = '{username}'");
    let done = app.auth.db().execute_unprepared(&sql).await.unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn stored_hash(app: &TestApp, user_id: i64) -> String {
    users::Entity::find_by_id(user_id).one(app.auth.db()).await.unwrap().expect("user").password_hash
}

db_test!(django_pbkdf2_hash_logs_in_with_basic_and_is_upgraded_to_argon2id, |app| {
    let alice = app.user("alice", "placeholder", false).await;
    import_hash(&app, "alice", DJANGO_PBKDF2_SHA256).await;
    // A wrong password: 401, and the Django hash stays as it was.
    let (status, _, body) = app.get("/api/whoami", Some(&basic("alice", "wrong"))).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")), "{body}");
    assert_eq!(stored_hash(&app, alice.id).await, DJANGO_PBKDF2_SHA256);
    // Neither does the password the user had before the import, nor an empty one.
    for wrong in ["placeholder", ""] {
        let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", wrong))).await;
        assert_eq!(status, 401);
    }
    assert_eq!(stored_hash(&app, alice.id).await, DJANGO_PBKDF2_SHA256);
    // The right one logs in, and the stored hash is now argon2id.
    let (status, _, body) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
    assert_eq!((status, body["username"].as_str()), (200, Some("alice")), "{body}");
    let upgraded = stored_hash(&app, alice.id).await;
    assert!(upgraded.starts_with(ARGON2ID), "{upgraded}");
    // The upgraded hash verifies the same password, is not rewritten again, and refuses
    // wrong ones.
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "pw"))).await;
    assert_eq!(status, 200);
    assert_eq!(stored_hash(&app, alice.id).await, upgraded);
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "wrong"))).await;
    assert_eq!(status, 401);
    assert_eq!(stored_hash(&app, alice.id).await, upgraded);
});

db_test!(django_hashes_obtain_tokens_and_are_upgraded_to_argon2id, |app| {
    let alice = app.user("alice", "placeholder", false).await;
    for (algorithm, hash) in DJANGO_FAST {
        import_hash(&app, "alice", hash).await;
        let (status, _, body) = app
            .call(
                reqwest::Method::POST,
                "/api/auth/token",
                None,
                Some(serde_json::json!({"username": "alice", "password": "wrong"})),
            )
            .await;
        assert!(status == 400 || status == 401, "{algorithm}: {status} {body}");
        assert_eq!(stored_hash(&app, alice.id).await, hash, "{algorithm}");
        let key = app.token("alice", DJANGO_PASSWORD).await;
        let now = stored_hash(&app, alice.id).await;
        assert!(now.starts_with(ARGON2ID), "{algorithm}: {now}");
        let (status, _, body) = app.get("/api/whoami", Some(&format!("Token {key}"))).await;
        assert_eq!((status, body["username"].as_str()), (200, Some("alice")), "{algorithm}");
    }
    // A format nobody knows (Django's salted MD5, `md5$`, not built in): refused, never a 5xx,
    // and left as it is.
    let md5 = "md5$salt$0d107d09f5bbe40cade3de5c71e9e9b7";
    import_hash(&app, "alice", md5).await;
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", DJANGO_PASSWORD))).await;
    assert_eq!(status, 401);
    assert_eq!(stored_hash(&app, alice.id).await, md5);
});

/// A made-up legacy format for the test of an added hasher: `reversed$<password reversed>`.
struct Reversed;

impl PasswordHasher for Reversed {
    fn algorithm(&self) -> &str {
        "reversed"
    }

    fn verify(&self, password: &str, encoded: &str) -> bool {
        let reversed: String = password.chars().rev().collect();
        encoded.strip_prefix("reversed$").is_some_and(|stored| stored == reversed)
    }
}

#[actix_web::rt::test]
async fn an_added_hasher_verifies_and_its_hashes_are_upgraded() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let auth = auth_runtime::Auth::builder(db.db.clone(), tests::test_secret())
        .settings(&example_app::Settings::default())
        .password_hasher(Reversed)
        .build()
        .expect("state");
    let app = TestApp::serve_auth(db, auth, None).await;
    let alice = app.user("alice", "placeholder", false).await;
    import_hash(&app, "alice", "reversed$terces").await;
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "terces"))).await;
    assert_eq!(status, 401);
    assert_eq!(stored_hash(&app, alice.id).await, "reversed$terces");
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", "secret"))).await;
    assert_eq!(status, 200);
    assert!(stored_hash(&app, alice.id).await.starts_with(ARGON2ID));
    // Django's formats still verify next to it.
    import_hash(&app, "alice", DJANGO_FAST[2].1).await;
    let (status, _, _) = app.get("/api/whoami", Some(&basic("alice", DJANGO_PASSWORD))).await;
    assert_eq!(status, 200);
    assert!(stored_hash(&app, alice.id).await.starts_with(ARGON2ID));
}
