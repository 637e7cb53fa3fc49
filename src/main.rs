//! `vertexcloud`: the whole API as one local process, and the admin commands.

mod allocator;
mod web;

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use shared::config::{Backend, Config, Overrides, WebApp, DEFAULT_ADDR, DEFAULT_DATA_DIR};
use shared::domain::Role;
use shared::http::{self, Group};
use shared::services::{RegisterInput, SWEEP_PERIOD};
use shared::{runtime, AppError, Core};

#[derive(Parser)]
#[command(
    name = "vertexcloud",
    version,
    about = "VertexCloud: secure file storage"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    // Unset flags leave the value to `Config` (`VERTEX_*`, then its defaults): the help text
    // names both, from the constants `Config` uses.
    #[arg(long, global = true, value_name = "DIR", help = format!(
        "Where the embedded backend keeps its database, secret and files \
         [env: VERTEX_DATA_DIR] [default: {DEFAULT_DATA_DIR}]"))]
    data_dir: Option<PathBuf>,
    #[arg(
        long,
        global = true,
        value_name = "BACKEND",
        help = "`embedded` (SQLite + disk) or `aws` (DynamoDB + S3, see README) \
                [env: VERTEX_BACKEND] [default: embedded]"
    )]
    backend: Option<Backend>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the whole API (the default command).
    Serve {
        #[arg(long, help = format!("Address to listen on [env: VERTEX_ADDR] [default: {DEFAULT_ADDR}]"))]
        addr: Option<SocketAddr>,
    },
    /// Create a superuser: the only way to make the first one.
    CreateSuperuser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create the DynamoDB table and the S3 bucket (for emulators; on AWS the SAM template
    /// creates them).
    CreateStorage,
    /// Print a short-lived access token for an existing user, for `make invoke TOKEN=…` or
    /// curl: a session of its own, no password needed. Only the token goes to standard output.
    IssueToken {
        /// The user's username (or email).
        #[arg(long)]
        username: String,
        /// Lifetime in seconds, at most a day [default: VERTEX_ACCESS_TTL_SECS, 900].
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<i64>,
    },
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let addr = match &cli.command {
        Some(Command::Serve { addr }) => *addr,
        _ => None,
    };
    Ok(Config::load(Overrides {
        backend: cli.backend,
        data_dir: cli.data_dir.clone(),
        addr,
    })?)
}

fn main() -> ExitCode {
    // Before the runtime starts its threads, so that every allocator arena follows it.
    allocator::return_memory_to_the_system();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    // `issue-token` prints only the token on standard output.
    if matches!(cli.command, Some(Command::IssueToken { .. })) {
        runtime::init_tracing_to_stderr();
    } else {
        runtime::init_tracing();
    }
    let result = match &cli.command {
        None | Some(Command::Serve { .. }) => serve(&cli).await,
        Some(Command::CreateSuperuser {
            username,
            email,
            password_stdin,
        }) => create_superuser(&cli, username, email, *password_stdin).await,
        Some(Command::CreateStorage) => create_storage(&cli).await,
        Some(Command::IssueToken { username, ttl }) => issue_token(&cli, username, *ttl).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cli: &Cli) -> anyhow::Result<()> {
    let mut config = config(cli)?;
    // This server serves the web app itself: share links open its visitor page, unless
    // VERTEX_WEB_URL puts the app elsewhere.
    if config.shares.web_app == WebApp::Absent {
        config.shares.web_app = WebApp::SameOrigin;
    }
    let addr = config.addr;
    let backend = config.backend;
    let data_dir = config.data_dir.clone();
    let table = config.table.clone();
    let limits = config.server.clone();
    let core = runtime::build_core(config).await?;
    // Jobs that were running when this server last stopped go on (from where they were); then
    // a sweep now and then takes over any whose run died since.
    tokio::spawn({
        let core = core.clone();
        async move {
            core.resume_jobs().await;
            let mut every = tokio::time::interval(SWEEP_PERIOD);
            every.tick().await;
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                // Each sweep a task of its own: one that panics is logged, and the next comes.
                let core = core.clone();
                if let Err(e) = tokio::spawn(async move { core.sweep_jobs().await }).await {
                    tracing::error!(error = %e, "a sweep of the running jobs failed");
                }
            }
        }
    });
    let app = web::with_app(http::router(core, &Group::ALL));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let where_ = match backend {
        Backend::Embedded => format!("embedded, data in {}", data_dir.display()),
        Backend::Aws => format!("aws, table {}", table.unwrap_or_default()),
    };
    println!(
        "VertexCloud listening on http://{} ({where_})",
        listener.local_addr()?
    );
    println!(
        "Web app: http://{0}/ · API reference: http://{0}/api/docs",
        listener.local_addr()?
    );
    http::serve::serve(listener, app, &limits, shutdown_signal()).await?;
    println!("VertexCloud stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to prompt on: pass --password-stdin and pipe the password");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password (again): ")?;
    if first != second {
        bail!("the passwords didn't match");
    }
    Ok(first)
}

async fn create_superuser(
    cli: &Cli,
    username: &str,
    email: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let config = config(cli)?;
    let password = read_password(password_stdin)?;
    let backends = runtime::open_backends(&config).await?;
    // No tokens are issued here, so no signing secret is needed.
    let core = Arc::new(Core::new(
        config,
        backends,
        shared::security::random_secret(32).as_bytes(),
    ));
    let input = RegisterInput {
        username: Some(username.to_owned()),
        email: Some(email.to_owned()),
        password: Some(password.clone()),
        password2: Some(password),
        first_name: None,
        last_name: None,
    };
    match core.create_account(input, Role::Superuser).await {
        Ok(user) => {
            println!("Superuser {} created (id {}).", user.username, user.id);
            Ok(())
        }
        Err(e) => Err(refusal(e)),
    }
}

/// A service error as the commands report it: field errors one per line, else the message.
fn refusal(e: AppError) -> anyhow::Error {
    match e {
        AppError::Validation(fields) => {
            let lines: Vec<String> = fields.iter().map(|(f, m)| format!("  {f}: {m}")).collect();
            anyhow::anyhow!("invalid input:\n{}", lines.join("\n"))
        }
        e => anyhow::anyhow!("{e}"),
    }
}

async fn issue_token(cli: &Cli, username: &str, ttl: Option<i64>) -> anyhow::Result<()> {
    let config = config(cli)?;
    let ttl = ttl.unwrap_or(config.access_ttl_secs);
    let backend = match config.backend {
        Backend::Embedded => {
            let db = config.data_dir.join("vertexcloud.db");
            if !db.exists() {
                bail!(
                    "no embedded data in {} (--data-dir, VERTEX_DATA_DIR; --backend aws for the \
                     emulators)",
                    config.data_dir.display()
                );
            }
            format!("embedded backend in {}", config.data_dir.display())
        }
        Backend::Aws => {
            let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                .map(|url| format!(" at {url}"))
                .unwrap_or_default();
            let table = config.table.as_deref().unwrap_or_default();
            format!("aws backend (DynamoDB table {table}{endpoint})")
        }
    };
    let backends = runtime::open_backends(&config).await?;
    // The secret the server and the functions verify with (the data dir's, or the configured one).
    let secret = runtime::load_secret(&config)
        .await
        .with_context(|| format!("reading the signing secret of the {backend}"))?;
    let core = Core::new(config, backends, &secret);
    match core.issue_token(username, ttl).await {
        Ok(issued) => {
            eprintln!(
                "Access token for {} ({}), valid until {}:",
                issued.user.username,
                issued.user.role.as_str(),
                issued.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
            println!("{}", issued.access);
            Ok(())
        }
        Err(AppError::Unavailable(cause)) => bail!("cannot reach the {backend}: {cause:#}"),
        Err(e) => Err(refusal(e)).with_context(|| format!("no token from the {backend}")),
    }
}

async fn create_storage(cli: &Cli) -> anyhow::Result<()> {
    let config = config(cli)?;
    let table = config.table.context("VERTEX_TABLE is not set")?;
    let bucket = config.bucket.context("VERTEX_BUCKET is not set")?;
    let sdk = runtime::aws_sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    shared::store::dynamo::DynamoStore::create_table(&dynamo, &table).await?;
    println!("Created table {table}.");
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(config.s3_path_style)
        .build();
    shared::objects::s3::S3Objects::create_bucket(&aws_sdk_s3::Client::from_conf(s3), &bucket)
        .await?;
    println!("Created bucket {bucket}.");
    Ok(())
}
