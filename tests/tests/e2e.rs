//! The built `example-app` binary end to end: the CLI commands of CONTRACT.md section 1
//! against a real database, and `serve` as a child process called over loopback HTTP.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};
use tests::basic;

/// The `example-app` binary next to this test's directory (`target/debug/example-app`),
/// built first (cargo answers at once when it is up to date, and a stale binary would
/// test old code).
fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        let dir = exe.parent().and_then(Path::parent).expect("target/debug");
        let bin = dir.join(format!("example-app{}", std::env::consts::EXE_SUFFIX));
        if let Some(cargo) = std::env::var_os("CARGO") {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
            let status = Command::new(cargo)
                .args(["build", "-p", "example-app", "--bin", "example-app", "--manifest-path"])
                .arg(&manifest)
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build -p example-app failed");
        }
        assert!(bin.exists(), "{} not found; run `cargo build -p example-app`", bin.display());
        bin
    })
}

/// How the database is named to the binary.
#[derive(Clone)]
enum Database {
    /// `--database-url URL` on every command.
    Flag(String),
    /// `DATABASE_URL=URL` in the environment.
    Env(String),
}

/// A working directory and a database for the CLI; every command runs with a clean
/// environment (no `AUTH_*`, no `DATABASE_URL` unless chosen, no `example-app.toml`).
struct Cli {
    dir: tempfile::TempDir,
    db: Database,
    /// Extra environment variables (`AUTH_*`).
    env: Vec<(&'static str, String)>,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.env_clear().current_dir(self.dir.path()).env("RUST_LOG", "warn");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        match &self.db {
            Database::Flag(url) => {
                cmd.args(args).arg("--database-url").arg(url);
            }
            Database::Env(url) => {
                cmd.args(args).env("DATABASE_URL", url);
            }
        }
        cmd
    }

    /// Runs a command to completion, with `stdin` written to its standard input.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("wait")
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "{args:?} failed: {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8 stdout")
    }

    /// Runs a command that must exit 1 with a message on stderr; returns the message.
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {:?}, stdout {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.trim().is_empty(), "{args:?}: a message on stderr");
        stderr
    }

    /// `create-token USER`: the key, checked to be printed alone on one line.
    fn create_token(&self, args: &[&str]) -> String {
        let stdout = self.ok(args, None);
        let key = stdout.strip_suffix('\n').unwrap_or_else(|| panic!("one line: {stdout:?}"));
        assert!(!key.contains('\n'), "one line: {stdout:?}");
        assert_eq!(key.len(), 64, "{stdout:?}");
        assert!(key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{stdout:?}");
        key.to_owned()
    }

    /// Starts `serve` on a free loopback port and waits for `/api/health`.
    async fn serve(&self, client: &reqwest::Client) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let bind = format!("127.0.0.1:{port}");
        let log = self.dir.path().join(format!("serve-{port}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .command(&["serve", "--bind", &bind])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("spawn serve");
        let url = match &self.db {
            Database::Flag(url) | Database::Env(url) => url,
        };
        let bus = url.starts_with("postgres");
        let mut server = Server { child, base: format!("http://{bind}"), log, bus };
        server.wait_ready(client).await;
        server
    }
}

/// A running `serve` child; killed when dropped, whatever happens in the test.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    /// Whether the CLI's revocations reach the server over a bus (PostgreSQL NOTIFY).
    bus: bool,
}

impl Server {
    async fn wait_ready(&mut self, client: &reqwest::Client) {
        // A readiness poll, not a timing assertion: the deadline only stops a hung test.
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("serve exited with {status}: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            if let Ok(res) = client.get(format!("{}/api/health", self.base)).send().await {
                assert_eq!(res.status(), 200);
                assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok", "database": "ok"}));
                return;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("serve did not answer /api/health: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    /// `GET path` with an `Authorization` value: status and JSON body.
    async fn get(&self, client: &reqwest::Client, path: &str, authorization: &str) -> (u16, Value) {
        let res = client
            .get(format!("{}{path}", self.base))
            .header("Authorization", authorization)
            .send()
            .await
            .expect("send");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON body"))
    }

    /// Like [`Server::get`], asked again every 100 ms until the status is `expected`, for at
    /// most the principal cache's staleness bound between processes (README, "Principal
    /// cache"): on PostgreSQL the CLI's NOTIFY, 1 s; on SQLite, where the CLI cannot reach
    /// the server, the default TTL, 5 s, plus 2 s.
    async fn get_within_cache_ttl(
        &self,
        client: &reqwest::Client,
        path: &str,
        authorization: &str,
        expected: u16,
    ) -> (u16, Value) {
        let bound = if self.bus { 1 } else { 7 };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(bound);
        loop {
            let (status, body) = self.get(client, path, authorization).await;
            if status == expected || std::time::Instant::now() > deadline {
                return (status, body);
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Database {
    fn url(&self) -> &str {
        match self {
            Database::Flag(url) | Database::Env(url) => url,
        }
    }
}

/// The values of `auth_settings` (where the generated secret key is kept).
async fn stored_settings(db: &Database) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = sea_orm::Database::connect(db.url()).await.expect("connect");
    let stmt = Statement::from_string(conn.get_database_backend(), "SELECT key, value FROM auth_settings ORDER BY key");
    let rows = conn.query_all_raw(stmt).await.expect("query auth_settings");
    let out = rows
        .iter()
        .map(|r| format!("{}={}", r.try_get::<String>("", "key").unwrap(), r.try_get::<String>("", "value").unwrap()))
        .collect();
    conn.close().await.ok();
    out
}

fn token(key: &str) -> String {
    format!("Token {key}")
}

/// The whole scenario against one database.
async fn scenario(db: Database) {
    let cli = Cli { dir: tempfile::tempdir().expect("tempdir"), db, env: Vec::new() };
    let client = reqwest::Client::new();

    let out = cli.ok(&["migrate"], None);
    assert!(!out.is_empty());
    cli.ok(&["migrate"], None); // idempotent

    // Users.
    cli.ok(&["create-user", "alice", "--password-stdin"], Some("old pass:word\n"));
    cli.ok(&["create-user", "root", "--staff", "--email", "root@example.com", "--password-stdin"], Some("rootpw\n"));
    let msg = cli.fails(&["create-user", "alice", "--password-stdin"], Some("other\n"));
    assert!(msg.contains("alice"), "{msg}");
    for bad in ["a:b", "a b", ""] {
        cli.fails(&["create-user", bad, "--password-stdin"], Some("pw\n"));
    }
    cli.fails(&["create-user", &"x".repeat(151), "--password-stdin"], Some("pw\n"));
    cli.ok(&["create-user", "j\u{f6}rg.m+x@y_z-1", "--password-stdin"], Some("pw\n"));
    cli.ok(&["create-user", "ivan", "--inactive", "--password-stdin"], Some("pw\n"));
    let msg = cli.fails(&["create-token", "ivan"], None);
    assert!(msg.contains("ivan"), "{msg}");

    // Tokens from the CLI.
    let key = cli.create_token(&["create-token", "alice"]);

    // Serve, use both schemes.
    let server = cli.serve(&client).await;
    let (status, body) = server.get(&client, "/api/whoami", &basic("alice", "old pass:word")).await;
    assert_eq!((status, body), (200, json!({"username": "alice", "scheme": "basic"})));
    let (status, body) = server.get(&client, "/api/whoami", &token(&key)).await;
    assert_eq!((status, body), (200, json!({"username": "alice", "scheme": "token"})));
    let (status, body) = server.get(&client, "/api/basic/whoami", &basic("j\u{f6}rg.m+x@y_z-1", "pw")).await;
    assert_eq!((status, body["username"].as_str()), (200, Some("j\u{f6}rg.m+x@y_z-1")));
    let (status, body) = server.get(&client, "/api/admin/users", &basic("root", "rootpw")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([
            {"username": "alice", "is_staff": false, "is_active": true},
            {"username": "ivan", "is_staff": false, "is_active": false},
            {"username": "j\u{f6}rg.m+x@y_z-1", "is_staff": false, "is_active": true},
            {"username": "root", "is_staff": true, "is_active": true},
        ])
    );
    let (status, _) = server.get(&client, "/api/whoami", &basic("ivan", "pw")).await;
    assert_eq!(status, 401, "created inactive");
    let res = client
        .post(format!("{}/api/auth/token", server.base))
        .json(&json!({"username": "alice", "password": "old pass:word"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let http_key = res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    drop(server);
    // AUTH_SECRET_KEY is unset: one secret was generated and kept in the database.
    let secret = stored_settings(&cli.db).await;
    assert_eq!(secret.len(), 1, "{secret:?}");
    assert!(secret[0].starts_with("secret_key=") && secret[0].len() > "secret_key=".len() + 32, "{secret:?}");

    // Restart: the same tokens are still accepted.
    let server = cli.serve(&client).await;
    for k in [&key, &http_key] {
        let (status, body) = server.get(&client, "/api/whoami", &token(k)).await;
        assert_eq!((status, body["scheme"].as_str()), (200, Some("token")));
    }
    assert_eq!(stored_settings(&cli.db).await, secret, "the same secret after a restart");

    // change-password (while serving): every token of alice and the old password stop working.
    cli.ok(&["change-password", "alice", "--password-stdin"], Some("new-pass\n"));
    for k in [&key, &http_key] {
        let (status, body) = server.get_within_cache_ttl(&client, "/api/whoami", &token(k), 401).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")));
    }
    let (status, _) = server.get(&client, "/api/whoami", &basic("alice", "old pass:word")).await;
    assert_eq!(status, 401);
    let (status, body) = server.get(&client, "/api/whoami", &basic("alice", "new-pass")).await;
    assert_eq!((status, body["scheme"].as_str()), (200, Some("basic")));

    // deactivate-user / activate-user.
    let key2 = cli.create_token(&["create-token", "alice"]);
    cli.ok(&["deactivate-user", "alice"], None);
    for auth in [token(&key2), basic("alice", "new-pass")] {
        let (status, _) = server.get_within_cache_ttl(&client, "/api/whoami", &auth, 401).await;
        assert_eq!(status, 401, "inactive: {auth}");
    }
    let msg = cli.fails(&["create-token", "alice"], None);
    assert!(msg.contains("alice"), "{msg}");
    cli.ok(&["activate-user", "alice"], None);
    for auth in [token(&key2), basic("alice", "new-pass")] {
        let (status, _) = server.get(&client, "/api/whoami", &auth).await;
        assert_eq!(status, 200, "active again: {auth}");
    }

    // Commands naming a missing user.
    for args in [
        vec!["create-token", "ghost"],
        vec!["change-password", "ghost", "--password-stdin"],
        vec!["deactivate-user", "ghost"],
        vec!["activate-user", "ghost"],
        vec!["delete-user", "ghost"],
    ] {
        let msg = cli.fails(&args, Some("pw\n"));
        assert!(msg.contains("ghost"), "{args:?}: {msg}");
    }

    // flush-expired-tokens: one JSON line of counts.
    let expired = cli.create_token(&["create-token", "alice", "--expires-in", "0"]);
    let (status, body) = server.get(&client, "/api/whoami", &token(&expired)).await;
    assert_eq!((status, body["detail"].as_str()), (401, Some("Token has expired.")));
    let stdout = cli.ok(&["flush-expired-tokens"], None);
    let line = stdout.strip_suffix('\n').unwrap_or(&stdout);
    assert!(!line.contains('\n'), "one line: {stdout:?}");
    let counts: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{stdout:?}: {e}"));
    let mut keys: Vec<&str> = counts.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["api_tokens", "oauth2", "refresh_tokens", "sessions"]);
    assert!(counts.as_object().unwrap().values().all(Value::is_u64), "{counts}");
    assert_eq!(counts["api_tokens"], 1, "{counts}");
    let again: Value = serde_json::from_str(cli.ok(&["flush-expired-tokens"], None).trim()).unwrap();
    assert_eq!(again["api_tokens"], 0);
    let (status, _) = server.get(&client, "/api/whoami", &token(&key2)).await;
    assert_eq!(status, 200, "unexpired tokens survive the flush");

    // delete-user: Basic and tokens refused.
    cli.ok(&["delete-user", "alice"], None);
    for auth in [basic("alice", "new-pass"), token(&key2)] {
        let (status, body) = server.get_within_cache_ttl(&client, "/api/whoami", &auth, 401).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("authentication_failed")), "{auth}");
    }
    cli.fails(&["delete-user", "alice"], None);
    let (status, body) = server.get(&client, "/api/admin/users", &basic("root", "rootpw")).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(3), "{body}");
    assert!(body.as_array().unwrap().iter().all(|u| u["username"] != "alice"), "{body}");
    drop(server);
}

#[actix_web::rt::test]
async fn cli_and_server_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("e2e.sqlite3").display());
    scenario(Database::Flag(url)).await;
}

#[actix_web::rt::test]
async fn cli_and_server_on_postgres_from_database_url() {
    let Some(url) = tests::fresh_postgres_database().await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    scenario(Database::Env(url)).await;
}

/// `serve` creates and migrates a new SQLite file on first start, without `migrate`.
#[actix_web::rt::test]
async fn serve_creates_the_database_on_first_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fresh.sqlite3");
    let cli = Cli { db: Database::Env(format!("sqlite://{}?mode=rwc", path.display())), dir, env: Vec::new() };
    assert!(!path.exists());
    let client = reqwest::Client::new();
    let server = cli.serve(&client).await;
    assert!(path.exists());
    let res = client.get(format!("{}/api/whoami", server.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    drop(server);
    cli.ok(&["create-user", "alice", "--password-stdin"], Some("pw\n"));
    let server = cli.serve(&client).await;
    let (status, body) = server.get(&client, "/api/whoami", &basic("alice", "pw")).await;
    assert_eq!((status, body["username"].as_str()), (200, Some("alice")));
}

/// Settings from `AUTH_*` variables and `example-app.toml` in the working directory.
#[actix_web::rt::test]
async fn settings_from_environment_and_toml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.sqlite3").display());
    let mut cli = Cli { db: Database::Flag(url), dir, env: Vec::new() };
    let client = reqwest::Client::new();
    cli.ok(&["create-user", "alice", "--password-stdin"], Some("pw\n"));

    // AUTH_TOKEN_TTL: tokens from the endpoint expire.
    cli.env = vec![("AUTH_TOKEN_TTL", "3600".into())];
    let server = cli.serve(&client).await;
    let res = client
        .post(format!("{}/api/auth/token", server.base))
        .json(&json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let expires_at = body["expires_at"].as_str().unwrap_or_else(|| panic!("expires_at set: {body}"));
    assert!(expires_at.ends_with('Z'), "{expires_at}");
    drop(server);

    // A value of the wrong type, and a secret key under 32 bytes: exit 1 with a message.
    cli.env = vec![("AUTH_TOKEN_TTL", "soon".into())];
    cli.fails(&["create-token", "alice"], None);
    cli.env = vec![("AUTH_SECRET_KEY", "too short".into())];
    cli.fails(&["create-token", "alice"], None);
    cli.env = vec![("AUTH_SECRET_KEY", "k".repeat(32))];
    cli.create_token(&["create-token", "alice"]);

    // example-app.toml in the working directory.
    cli.env = Vec::new();
    std::fs::write(
        cli.dir.path().join("example-app.toml"),
        "[token]\nkeyword = \"Key\"\n\n[basic]\nrealm = \"books\"\n",
    )
    .unwrap();
    let key = cli.create_token(&["create-token", "alice"]);
    let server = cli.serve(&client).await;
    let res = client.get(format!("{}/api/whoami", server.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let challenges: Vec<_> =
        res.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(challenges, ["Basic realm=\"books\", charset=\"UTF-8\"", "Key", "Bearer realm=\"api\""]);
    let (status, body) = server.get(&client, "/api/whoami", &format!("Key {key}")).await;
    assert_eq!((status, body["scheme"].as_str()), (200, Some("token")));
    let (status, body) = server.get(&client, "/api/whoami", &token(&key)).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("not_authenticated")));
}

/// The audit lines (target `auth::audit`, from the CLI) of `stderr`.
fn audit_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains("auth::audit") && l.contains("admin command"))
        .map(str::to_owned)
        .collect()
}

/// Every state-changing CLI command writes one audit line (target `auth::audit`) to stderr,
/// even under `RUST_LOG=warn`, naming the action, the user or client and the outcome, and
/// never the password, token or secret it handled; stdout carries only the command's output.
#[test]
fn admin_commands_are_audited_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("audit.sqlite3").display());
    let cli = Cli { dir: tempfile::tempdir().expect("tempdir"), db: Database::Flag(url), env: Vec::new() };
    let password = "Sup3r-secret-pa55";
    let new_password = "An0ther-secret-pa55";

    // Runs a command; returns its stdout, its one audit line (checked for `needles`) and its
    // whole stderr.
    let audited = |args: &[&str], stdin: Option<&str>, ok: bool, needles: &[&str]| -> (String, String, String) {
        let out = cli.run(args, stdin);
        assert_eq!(out.status.success(), ok, "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).expect("UTF-8 stdout");
        assert!(!stdout.contains("auth::audit") && !stdout.contains("INFO"), "logs on stdout: {stdout:?}");
        let lines = audit_lines(&out.stderr);
        assert_eq!(lines.len(), 1, "{args:?}: one audit line: {}", String::from_utf8_lossy(&out.stderr));
        let line = lines[0].clone();
        for needle in needles {
            assert!(line.contains(needle), "{args:?}: {needle:?} not in {line:?}");
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        for secret in [password, new_password] {
            assert!(!stderr.contains(secret), "{args:?}: a password on stderr: {stderr}");
        }
        (stdout, line, stderr)
    };

    audited(&["migrate"], None, true, &["migrate", "outcome=\"ok\""]);
    audited(
        &["create-user", "alice", "--password-stdin"],
        Some(&format!("{password}\n")),
        true,
        &["create_user", "username=\"alice\"", "outcome=\"ok\"", "source=\"cli\""],
    );
    audited(
        &["create-user", "alice", "--password-stdin"],
        Some(&format!("{password}\n")),
        false,
        &["create_user", "alice", "outcome=\"error\""],
    );
    let (key, _, stderr) =
        audited(&["create-token", "alice"], None, true, &["create_token", "alice", "outcome=\"ok\""]);
    let key = key.trim();
    assert_eq!(key.len(), 64, "{key:?}");
    assert!(!stderr.contains(key), "the token on stderr: {stderr}");
    let (client, line, stderr) = audited(
        &["create-client", "Audited app", "--grant", "client-credentials"],
        None,
        true,
        &["create_client", "Audited app", "outcome=\"ok\""],
    );
    let client: Value = serde_json::from_str(client.trim()).expect("client JSON on stdout");
    let (id, secret) = (client["client_id"].as_str().expect("id"), client["client_secret"].as_str().expect("secret"));
    assert!(line.contains(id), "the client id in {line:?}");
    assert!(!stderr.contains(secret), "the client secret on stderr: {stderr}");
    audited(
        &["change-password", "alice", "--password-stdin"],
        Some(&format!("{new_password}\n")),
        true,
        &["change_password", "alice", "outcome=\"ok\""],
    );
    audited(&["deactivate-user", "alice"], None, true, &["deactivate_user", "alice", "outcome=\"ok\""]);
    audited(&["activate-user", "alice"], None, true, &["activate_user", "alice", "outcome=\"ok\""]);
    audited(&["flush-expired-tokens"], None, true, &["flush_expired_tokens", "outcome=\"ok\""]);
    audited(&["delete-user", "alice"], None, true, &["delete_user", "alice", "outcome=\"ok\""]);
    audited(&["delete-user", "nobody"], None, false, &["delete_user", "nobody", "outcome=\"error\""]);
}

/// Failed and successful logins and lockouts are logged by the served binary (target
/// `auth::audit`, with username, client address and outcome), and no password appears in
/// the log.
#[actix_web::rt::test]
async fn logins_and_lockouts_are_audited_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("audit.sqlite3").display());
    let cli = Cli { dir, db: Database::Flag(url), env: Vec::new() };
    cli.ok(&["create-user", "alice", "--password-stdin"], Some("right-pass-7\n"));
    let client = reqwest::Client::new();
    let server = cli.serve(&client).await;
    let basic = |pw: &str| {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("alice:{pw}")))
    };
    assert_eq!(server.get(&client, "/api/basic/whoami", &basic("right-pass-7")).await.0, 200);
    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(server.get(&client, "/api/basic/whoami", &basic(&format!("wrong-guess-{i}"))).await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2, "{statuses:?}");
    // Logs are written as they happen; give the writer a moment, bounded.
    let mut log = String::new();
    for _ in 0..50 {
        log = std::fs::read_to_string(&server.log).unwrap_or_default();
        if log.contains("throttled") {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("auth::audit")).collect();
    assert!(audit.iter().any(|l| l.contains("alice") && l.contains("outcome=\"ok\"")), "{log}");
    assert_eq!(audit.iter().filter(|l| l.contains("authentication_failed")).count(), 10, "{log}");
    assert!(audit.iter().any(|l| l.contains("throttled") && l.contains("127.0.0.1")), "{log}");
    assert!(!log.contains("right-pass-7") && !log.contains("wrong-guess"), "no password in the log: {log}");
}
