//! `example-app`: serve the books API, and manage users, tokens and the database.
//!
//! Every command honours `--database-url` and `DATABASE_URL`; see `CONTRACT.md` section 1.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use actix_web::HttpServer;
use anyhow::{Context, bail};
use auth_runtime::lifecycle::{self, LifecycleError};
use auth_runtime::lifecycle::{CreateUserError, create_user};
use auth_runtime::schemes::oauth2::{self, ApplicationError, GrantType, NewApplication};
use auth_runtime::schemes::token;
use auth_runtime::users::{self, NewUser};
use clap::{Parser, Subcommand, ValueEnum};
use example_app::{DEFAULT_DATABASE_URL, Settings, app, build_state, connect_with};

/// The reference application of auth-runtime: a books API protected by Basic, Token,
/// sessions, JWTs and OAuth2.
#[derive(Debug, Parser)]
#[command(name = "example-app", version)]
struct Cli {
    /// Database URL (`sqlite://FILE?mode=rwc` or `postgres://...`).
    #[arg(long, env = "DATABASE_URL", global = true, default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default command).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8000")]
        bind: String,
    },
    /// Apply all migrations and exit.
    Migrate,
    /// Create a user; the password is prompted for, or read from stdin.
    CreateUser {
        /// 1 to 150 letters, digits and @.+-_
        username: String,
        /// E-mail address.
        #[arg(long, default_value = "")]
        email: String,
        /// Make the user staff (may write books, list users).
        #[arg(long)]
        staff: bool,
        /// Create the user inactive.
        #[arg(long)]
        inactive: bool,
        /// Read the password from one line of stdin instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API token and print its key alone on one line.
    CreateToken {
        /// The token's owner.
        username: String,
        /// Lifetime in seconds (default: the settings' `token.ttl`, else none).
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// Register an OAuth2 client and print `{"client_id": "...", "client_secret": "..."}` on
    /// one line (the secret is shown once and stored hashed; null for a public client).
    CreateClient {
        /// Display name, shown on the consent page.
        name: String,
        /// A grant the client may use (repeat for several).
        #[arg(long, value_enum, required = true)]
        grant: Vec<GrantArg>,
        /// A redirect URI (repeat for several); authorization-code clients need one.
        #[arg(long = "redirect-uri")]
        redirect_uri: Vec<String>,
        /// A public client (no secret; e.g. a native or browser app). Cannot use client
        /// credentials.
        #[arg(long)]
        public: bool,
        /// A scope the client may request (repeat, or space-separated); default: all scopes.
        #[arg(long)]
        scope: Vec<String>,
    },
    /// Set a new password; every credential issued before stops working.
    ChangePassword {
        /// The user.
        username: String,
        /// Read the password from one line of stdin instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Deactivate a user: every credential of theirs is refused while inactive.
    DeactivateUser {
        /// The user.
        username: String,
    },
    /// Activate a user again.
    ActivateUser {
        /// The user.
        username: String,
    },
    /// Delete a user and everything issued to them.
    DeleteUser {
        /// The user.
        username: String,
    },
    /// Delete expired credentials and print the counts as one JSON line.
    FlushExpiredTokens,
}

/// The `--grant` values of `create-client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GrantArg {
    /// The authorization code grant with PKCE (and refresh tokens).
    AuthorizationCode,
    /// The client credentials grant (confidential clients only).
    ClientCredentials,
}

impl From<GrantArg> for GrantType {
    fn from(g: GrantArg) -> Self {
        match g {
            GrantArg::AuthorizationCode => GrantType::AuthorizationCode,
            GrantArg::ClientCredentials => GrantType::ClientCredentials,
        }
    }
}

/// mimalloc: the server allocates small, short-lived objects on every request; under wrk,
/// perf showed glibc's malloc and free as the largest user-space cost after the network, and
/// with mimalloc and the regex-free path normalisation of `auth_runtime::http::edge` together,
/// the health route went from 56 k to 72 k req/s (same machine, same sitting).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The audit target, the runtime's (`auth::audit`): one event per state-changing command.
const AUDIT_TARGET: &str = "auth::audit";

/// What the audit event of a state-changing command names: the action and whom it concerns.
/// Never a password, token or secret.
#[derive(Debug, Default)]
struct Audit {
    /// `create_user`, `create_token`, `create_client`, `change_password`, `deactivate_user`,
    /// `activate_user`, `delete_user`, `flush_expired_tokens` or `migrate`.
    action: &'static str,
    /// The user concerned.
    username: Option<String>,
    /// The OAuth2 client concerned (known once it is created).
    client_id: Option<String>,
    /// The OAuth2 client's display name.
    client_name: Option<String>,
}

impl Audit {
    /// The audit record of `command`, `None` for commands that change nothing (`serve`).
    fn of(command: Option<&Command>) -> Option<Audit> {
        let user = |action, username: &String| Audit { action, username: Some(username.clone()), ..Audit::default() };
        Some(match command? {
            Command::Serve { .. } => return None,
            Command::Migrate => Audit { action: "migrate", ..Audit::default() },
            Command::CreateUser { username, .. } => user("create_user", username),
            Command::CreateToken { username, .. } => user("create_token", username),
            Command::CreateClient { name, .. } => {
                Audit { action: "create_client", client_name: Some(name.clone()), ..Audit::default() }
            }
            Command::ChangePassword { username, .. } => user("change_password", username),
            Command::DeactivateUser { username } => user("deactivate_user", username),
            Command::ActivateUser { username } => user("activate_user", username),
            Command::DeleteUser { username } => user("delete_user", username),
            Command::FlushExpiredTokens => Audit { action: "flush_expired_tokens", ..Audit::default() },
        })
    }

    /// Emits the event: the action, the user or client, and the outcome (`ok` or `error`;
    /// the error itself goes to stderr apart, as it may quote input).
    fn emit(&self, ok: bool) {
        tracing::info!(
            target: AUDIT_TARGET,
            action = self.action,
            username = self.username.as_deref(),
            client_id = self.client_id.as_deref(),
            client_name = self.client_name.as_deref(),
            source = "cli",
            outcome = if ok { "ok" } else { "error" },
            "admin command"
        );
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut audit = Audit::of(cli.command.as_ref());
    // Logs go to stderr only: stdout carries the commands' output (keys, JSON). The audit
    // events of admin commands are on whatever RUST_LOG says, unless it names `auth::audit`
    // itself.
    let mut filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into());
    let audit_configured = std::env::var("RUST_LOG").is_ok_and(|v| v.contains(AUDIT_TARGET));
    // Serving included: a quieter RUST_LOG does not silence the audit trail (logins,
    // lockouts, revocations).
    if !audit_configured {
        filter = filter.add_directive(format!("{AUDIT_TARGET}=info").parse().expect("a valid directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = actix_web::rt::System::new().block_on(run(cli, audit.as_mut()));
    if let Some(audit) = &audit {
        audit.emit(result.is_ok());
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a password: one line of stdin, or a prompt without echo (asked twice).
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ")?;
        if rpassword::prompt_password("Password (again): ")? != first {
            bail!("the passwords do not match");
        }
        first
    };
    if password.is_empty() {
        bail!("the password must not be empty");
    }
    Ok(password)
}

fn user_error(e: LifecycleError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn run(cli: Cli, audit: Option<&mut Audit>) -> anyhow::Result<()> {
    let settings = Settings::load().context("reading the settings")?;
    let db = connect_with(&cli.database_url, &settings.pool).await.context("opening the database")?;
    if matches!(cli.command, Some(Command::Migrate)) {
        println!("migrations applied");
        return Ok(());
    }
    let state = build_state(db, &settings).await.map_err(anyhow::Error::msg).context("setting up authentication")?;
    let auth = state.auth.clone();
    match cli.command.unwrap_or(Command::Serve { bind: "127.0.0.1:8000".into() }) {
        Command::Migrate => {}
        Command::Serve { bind } => {
            tracing::info!(%bind, "serving");
            // Expired sessions, tokens and grants are deleted in the background too.
            let _flush = auth_runtime::lifecycle::spawn_flush(auth.clone());
            HttpServer::new(move || app(state.clone()))
                .bind(&bind)
                .with_context(|| format!("binding {bind}"))?
                .run()
                .await?;
        }
        Command::CreateUser { username, email, staff, inactive, password_stdin } => {
            if !users::is_valid_username(&username) {
                bail!("invalid username {username:?}: use 1 to 150 letters, digits and @.+-_");
            }
            let password = read_password(password_stdin)?;
            let new = NewUser { username: username.clone(), email, password, is_staff: staff, is_active: !inactive };
            match create_user(&auth, new).await {
                Ok(_) => eprintln!("created user {username:?}"),
                Err(CreateUserError::Exists) => bail!("a user named {username:?} already exists"),
                Err(e) => bail!("{e}"),
            }
        }
        Command::CreateToken { username, expires_in } => {
            let user = lifecycle::find_user(&auth, &username).await.map_err(user_error)?;
            if !user.is_active {
                bail!("user {username:?} is inactive");
            }
            let ttl = expires_in.or(settings.token.ttl);
            let issued = token::create_token(auth.db(), user.id, ttl).await?;
            println!("{}", issued.key);
        }
        Command::CreateClient { name, grant, redirect_uri, public, scope } => {
            let new = NewApplication {
                name,
                grant_types: grant.into_iter().map(GrantType::from).collect(),
                redirect_uris: redirect_uri,
                public,
                scopes: scope,
                owner_id: None,
            };
            let created = match oauth2::create_application(&auth, new).await {
                Ok(created) => created,
                Err(ApplicationError::Invalid(message)) => bail!("{message}"),
                Err(ApplicationError::Auth(e)) => bail!("{e}"),
            };
            if let Some(audit) = audit {
                audit.client_id = Some(created.record.client_id.clone());
            }
            println!(
                "{{\"client_id\": {}, \"client_secret\": {}}}",
                serde_json::Value::from(created.record.client_id),
                serde_json::Value::from(created.client_secret)
            );
        }
        Command::ChangePassword { username, password_stdin } => {
            lifecycle::find_user(&auth, &username).await.map_err(user_error)?;
            let password = read_password(password_stdin)?;
            lifecycle::change_password(&auth, &username, &password).await.map_err(user_error)?;
            eprintln!("password changed; every credential of {username:?} issued before is revoked");
        }
        Command::DeactivateUser { username } => {
            lifecycle::set_active(&auth, &username, false).await.map_err(user_error)?;
            eprintln!("deactivated {username:?}");
        }
        Command::ActivateUser { username } => {
            lifecycle::set_active(&auth, &username, true).await.map_err(user_error)?;
            eprintln!("activated {username:?}");
        }
        Command::DeleteUser { username } => {
            lifecycle::delete_user(&auth, &username).await.map_err(user_error)?;
            eprintln!("deleted {username:?}");
        }
        Command::FlushExpiredTokens => {
            let counts = lifecycle::flush_expired(&auth).await?;
            println!("{}", serde_json::to_string(&counts).unwrap_or_default());
        }
    }
    Ok(())
}
