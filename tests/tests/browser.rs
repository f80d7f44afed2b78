//! The single-page app at `/` in headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver with fantoccini: log in, see the books, add one,
//! log out, and check that the API refuses the old session cookie afterwards.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the test prints "skipped" and
//! passes, except under CI (`CI` set), where it fails. `.ci/run` installs both where missing.
//! A screenshot of the logged-in page is saved as `target/artifacts/spa-logged-in.png`.

use std::fmt::Debug;
use std::future::Future;
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{Value, json};
use tests::{Backend, TestApp, basic};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The bound of every wait and every WebDriver command: a hang fails the test instead of
/// blocking it. Not a timing assertion.
const WAIT: Duration = Duration::from_secs(15);

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

/// The books created through the API before the browser opens the page.
const BOOKS: [(&str, &str); 3] =
    [("Dune", "Frank Herbert"), ("Solaris", "Stanisław Lem"), ("The Left Hand of Darkness", "Ursula K. Le Guin")];

/// The book added through the page.
const NEW_BOOK: (&str, &str) = ("Kindred", "Octavia E. Butler");

/// True when Chromium and ChromeDriver are installed; otherwise prints "skipped", or fails
/// under CI.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {missing:?} missing: the browser test would not run \
         (apt-get install chromium chromium-driver; .ci/run does it)"
    );
    eprintln!("skipped: {missing:?} missing (apt-get install chromium chromium-driver)");
    false
}

/// A `chromedriver` child and the profile directory of the Chromium it starts. Dropping it
/// kills ChromeDriver and then every Chromium process whose command line names this profile
/// (killing ChromeDriver alone leaves its Chromium running, re-parented to init), so nothing
/// outlives a failed or hung test; then the directory is removed.
struct Driver {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Driver {
    /// Starts `chromedriver --port=<free port>` and waits until `/status` says it is ready.
    async fn start() -> Driver {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("profile")).expect("profile dir");
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let file = std::fs::File::create(dir.path().join("chromedriver.log")).expect("log file");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("spawn chromedriver");
        let mut driver = Driver { child, url: format!("http://127.0.0.1:{port}"), dir };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = driver.child.try_wait().expect("try_wait") {
                panic!("chromedriver exited with {status}: {}", driver.log());
            }
            let ready = client.get(format!("{}/status", driver.url)).timeout(WAIT).send().await;
            if let Ok(res) = ready {
                let body: Value = res.json().await.unwrap_or_default();
                if body["value"]["ready"] == json!(true) {
                    return driver;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer within {WAIT:?}: {}", driver.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    fn profile(&self) -> PathBuf {
        self.dir.path().join("profile")
    }

    /// A WebDriver session in headless Chromium with a fresh, empty profile. The flags keep
    /// Chromium off the network (this machine has only loopback).
    async fn connect(&self) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-crash-reporter",
            "--disable-dev-shm-usage",
            "--window-size=1000,800",
            &format!("--user-data-dir={}", self.profile().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), json!({"binary": CHROMIUM, "args": args}));
        // ChromeDriver speaks plain HTTP on loopback: no TLS connector.
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        match tokio::time::timeout(WAIT, builder.connect(&self.url)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("WebDriver session: {e}\nchromedriver log:\n{}", self.log()),
            Err(_) => panic!("WebDriver session not created within {WAIT:?}\nchromedriver log:\n{}", self.log()),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Chromium, process by process: those whose command line names our profile. Signals
        // go through libc, to positive pids only. Not through the `kill` command: Debian's
        // procps-ng 4.0.2 turns `kill -KILL -12345` into kill(-1, SIGKILL), which is every
        // process of the machine.
        let marker = format!("--user-data-dir={}", self.profile().display());
        let Ok(procs) = std::fs::read_dir("/proc") else { return };
        for entry in procs.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<libc::pid_t>().ok()) else { continue };
            if pid <= 1 || pid == std::process::id() as libc::pid_t {
                continue;
            }
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
            if cmdline.split(|&b| b == 0).any(|arg| arg == marker.as_bytes()) {
                // SAFETY: kill(2) with a positive pid and a valid signal touches no memory.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Runs one WebDriver command (or any fallible future), failing the test if it errs or
/// takes longer than [`WAIT`].
async fn step<T, E: Debug>(what: &str, fut: impl Future<Output = Result<T, E>>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e:?}"),
        Err(_) => panic!("{what}: no answer within {WAIT:?}"),
    }
}

/// Polls `check` until it gives `Some`, for at most [`WAIT`]; on timeout the panic shows the
/// page's `#status` and `#error` lines.
async fn wait_for<T>(client: &Client, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(Some(v)) = tokio::time::timeout(left, check()).await {
            return v;
        }
        if Instant::now() >= deadline {
            let status = text(client, "status").await;
            let error = text(client, "error").await;
            panic!("timed out after {WAIT:?} waiting for {what} (page #status {status:?}, #error {error:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The rendered text of the element with `id`, or `None`.
async fn text(client: &Client, id: &str) -> Option<String> {
    let found = tokio::time::timeout(WAIT, client.find(Locator::Id(id))).await.ok()?.ok()?;
    tokio::time::timeout(WAIT, found.text()).await.ok()?.ok()
}

/// Whether the element with `id` is displayed (`false` when absent).
async fn visible(client: &Client, id: &str) -> bool {
    let displayed = async { client.find(Locator::Id(id)).await.ok()?.is_displayed().await.ok() };
    matches!(tokio::time::timeout(WAIT, displayed).await, Ok(Some(true)))
}

/// The texts of the `#books` items, in page order.
async fn listed_books(client: &Client) -> Option<Vec<String>> {
    let list = client.find(Locator::Id("books")).await.ok()?;
    let mut out = Vec::new();
    for li in list.find_all(Locator::Css("li")).await.ok()? {
        out.push(li.text().await.ok()?);
    }
    Some(out)
}

/// Types `value` into the (empty) input with `id`.
async fn fill(client: &Client, id: &str, value: &str) {
    let input = step(&format!("find #{id}"), client.find(Locator::Id(id))).await;
    step(&format!("clear #{id}"), input.clear()).await;
    step(&format!("type into #{id}"), input.send_keys(value)).await;
}

async fn click(client: &Client, id: &str) {
    let button = step(&format!("find #{id}"), client.find(Locator::Id(id))).await;
    step(&format!("click #{id}"), button.click()).await;
}

/// The value of the browser's cookie `name` (HttpOnly ones included: WebDriver sees them).
async fn cookie(client: &Client, name: &str) -> String {
    step(&format!("cookie {name}"), client.get_named_cookie(name)).await.value().to_owned()
}

/// `method path` from outside the browser with a `Cookie` header (and no CSRF header):
/// status and JSON body.
async fn with_cookie(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).header("Cookie", cookie).timeout(WAIT);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("send");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON body") })
}

fn book_line((title, author): (&str, &str)) -> String {
    format!("{title} by {author}")
}

#[actix_web::rt::test]
async fn spa_login_books_add_logout() {
    if !browser_installed() {
        return;
    }
    let started = Instant::now();
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite app");
    app.user(USER, PASSWORD, true).await;
    for (title, author) in BOOKS {
        let (status, _, body) = app
            .call(
                reqwest::Method::POST,
                "/api/books",
                Some(&basic(USER, PASSWORD)),
                Some(json!({"title": title, "author": author})),
            )
            .await;
        assert_eq!(status, 201, "creating {title:?} with Basic: {body}");
    }

    let driver = Driver::start().await;
    let client = driver.connect().await;
    let outcome = AssertUnwindSafe(scenario(&client, &app)).catch_unwind().await;
    // Whatever happened, end the WebDriver session (ChromeDriver then quits Chromium); the
    // driver's Drop kills whatever is left.
    let closed = tokio::time::timeout(WAIT, client.close()).await;
    drop(driver);
    app.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(matches!(closed, Ok(Ok(()))), "ending the WebDriver session: {closed:?}");
    eprintln!("browser test took {:?}", started.elapsed());
}

/// The user's path through the page, with the API checks around it.
async fn scenario(client: &Client, app: &TestApp) {
    let auth = basic(USER, PASSWORD);
    // Anonymous: the page asks for a login.
    step("open /", client.goto(&app.url("/"))).await;
    wait_for(client, "#login to be visible", async || visible(client, "login").await.then_some(())).await;
    assert!(!visible(client, "app").await, "#app is hidden before logging in");
    assert_eq!(text(client, "status").await.as_deref(), Some("You are not signed in."));

    // Log in.
    fill(client, "username", USER).await;
    fill(client, "password", PASSWORD).await;
    click(client, "login-button").await;
    wait_for(client, "#app to be visible", async || visible(client, "app").await.then_some(())).await;
    assert!(!visible(client, "login").await, "#login is hidden once logged in");
    assert_eq!(text(client, "who").await.as_deref(), Some(USER));
    let expected: Vec<String> = BOOKS.into_iter().map(book_line).collect();
    let shown = wait_for(client, "#books to list the pre-created books", async || {
        listed_books(client).await.filter(|b| *b == expected)
    })
    .await;
    assert_eq!(shown, expected);
    assert_eq!(text(client, "status").await.as_deref(), Some("3 books"));
    assert_eq!(text(client, "error").await.as_deref(), Some(""));

    // The artifact: the logged-in page.
    let png = step("screenshot", client.screenshot()).await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts");
    std::fs::create_dir_all(&artifacts).expect("create target/artifacts");
    let shot = artifacts.join("spa-logged-in.png");
    std::fs::write(&shot, &png).expect("write screenshot");
    eprintln!("screenshot: {} ({} bytes)", shot.display(), png.len());

    // The cookies the page runs on: `sessionid` is HttpOnly (the page's script cannot read
    // it), `csrftoken` is readable, which is how the page sends it as `X-CSRFToken`.
    let session = cookie(client, "sessionid").await;
    let csrf = cookie(client, "csrftoken").await;
    assert!(!session.is_empty() && !csrf.is_empty(), "the browser holds both cookies");
    let script_cookies = step("document.cookie", client.execute("return document.cookie", vec![])).await;
    let script_cookies = script_cookies.as_str().expect("string");
    assert!(
        script_cookies.contains(&format!("csrftoken={csrf}")),
        "csrftoken is readable by the page: {script_cookies:?}"
    );
    assert!(!script_cookies.contains("sessionid"), "sessionid is HttpOnly: {script_cookies:?}");

    // The browser's session works from outside the browser too (the control of the replay
    // below), but an unsafe request without `X-CSRFToken` is refused.
    let both = format!("sessionid={session}; csrftoken={csrf}");
    let (status, body) = with_cookie(app, reqwest::Method::GET, "/api/session/whoami", &both, None).await;
    assert_eq!((status, &body["username"]), (200, &json!(USER)), "{body}");
    let (status, body) = with_cookie(
        app,
        reqwest::Method::POST,
        "/api/books",
        &both,
        Some(json!({"title": "Forged", "author": "Nobody"})),
    )
    .await;
    assert_eq!(status, 403, "a session POST without X-CSRFToken: {body}");
    assert_eq!(body["code"], "csrf_failed", "{body}");

    // Add a book through the page. It can only succeed if the page sent the session cookie
    // and, as `X-CSRFToken`, the csrftoken cookie (the POST above shows the header is needed).
    fill(client, "title", NEW_BOOK.0).await;
    fill(client, "author", NEW_BOOK.1).await;
    click(client, "add-button").await;
    let mut expected = expected;
    expected.push(book_line(NEW_BOOK));
    wait_for(client, "#books to list the added book", async || listed_books(client).await.filter(|b| *b == expected))
        .await;
    assert_eq!(text(client, "error").await.as_deref(), Some(""), "no error shown after adding");
    assert_eq!(text(client, "status").await.as_deref(), Some("4 books"));
    let title = step("find #title", client.find(Locator::Id("title"))).await;
    assert_eq!(step("#title value", title.prop("value")).await.as_deref(), Some(""), "the form is cleared");

    // It is in the database, as the API (Basic) tells; the forged POST above is not.
    let (status, _, books) = app.get("/api/books", Some(&auth)).await;
    assert_eq!(status, 200, "{books}");
    let pairs: Vec<(String, String)> = books
        .as_array()
        .expect("array")
        .iter()
        .map(|b| (b["title"].as_str().unwrap().to_owned(), b["author"].as_str().unwrap().to_owned()))
        .collect();
    let mut want: Vec<(String, String)> = BOOKS.iter().map(|(t, a)| (t.to_string(), a.to_string())).collect();
    want.push((NEW_BOOK.0.into(), NEW_BOOK.1.into()));
    assert_eq!(pairs, want, "the API lists the pre-created books and the one added in the page");

    // Log out: the page shows the login form again, and the old cookie is dead server-side.
    let old_session = cookie(client, "sessionid").await;
    click(client, "logout").await;
    wait_for(client, "#login to be visible after logout", async || visible(client, "login").await.then_some(())).await;
    assert!(!visible(client, "app").await, "#app is hidden after logout");
    assert_eq!(text(client, "error").await.as_deref(), Some(""), "no error shown after logout");
    let after = step("cookies", client.get_all_cookies()).await;
    assert!(
        !after.iter().any(|c| c.name() == "sessionid" && c.value() == old_session),
        "the browser no longer holds the old sessionid"
    );
    let replay = format!("sessionid={old_session}");
    for path in ["/api/session/whoami", "/api/books"] {
        let (status, body) = with_cookie(app, reqwest::Method::GET, path, &replay, None).await;
        eprintln!("replayed old sessionid on GET {path}: {status} {body}");
        assert!(status == 401 || status == 403, "GET {path} with the logged-out session: {status} {body}");
    }

    // A reload still shows the login form: nothing in the browser keeps the user signed in.
    step("reload /", client.goto(&app.url("/"))).await;
    wait_for(client, "#login to be visible after reload", async || visible(client, "login").await.then_some(())).await;
}
