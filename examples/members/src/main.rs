//! `members-example`: serve the app, create members and API keys.

use std::io::BufRead;
use std::process::ExitCode;

use actix_web::HttpServer;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use members_example::members::{Role, create_member};
use members_example::{DEFAULT_DATABASE_URL, Settings, api_key, app, build_state, connect};

/// The members example of auth-runtime.
#[derive(Debug, Parser)]
#[command(name = "members-example", version)]
struct Cli {
    /// Database URL (`sqlite://FILE?mode=rwc` or `postgres://...`).
    #[arg(long, env = "DATABASE_URL", global = true, default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8000")]
        bind: String,
    },
    /// Create a member; the password is one line of stdin.
    CreateMember {
        /// The e-mail address (the login name).
        email: String,
        /// reader, editor or admin.
        #[arg(long, default_value = "reader")]
        role: Role,
        /// Shown to other members (default: the e-mail's local part).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from stdin (required: this example has no prompt).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Create an API key for a member and print it (once: only its digest is stored).
    CreateApiKey {
        /// The member's e-mail.
        email: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match actix_web::rt::System::new().block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = connect(&cli.database_url).await.context("opening the database")?;
    let state = build_state(db, &Settings::default()).await.map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Serve { bind } => {
            let _flush = auth_runtime::lifecycle::spawn_flush(state.auth.clone());
            tracing::info!(%bind, "serving");
            HttpServer::new(move || app(state.clone())).bind(&bind)?.run().await?;
        }
        Command::CreateMember { email, role, display_name, password_stdin: _ } => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password).context("reading the password")?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                bail!("the password must not be empty");
            }
            let name = display_name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
            let member = create_member(&state.auth, &email, &name, role, password).await?;
            eprintln!("created member {} ({})", member.email, role.as_str());
        }
        Command::CreateApiKey { email } => {
            let member = auth_runtime::lifecycle::find_user(&state.auth, &email).await?;
            println!("{}", api_key::create_api_key(&state.auth, member.id).await?);
        }
    }
    Ok(())
}
