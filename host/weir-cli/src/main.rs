//! `weir`: run, validate and build Weir stream jobs, and benchmark them.

mod bench;
mod build;
mod cluster;
mod control;
mod rest_client;
mod run;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Weir runs stream processing jobs whose functions are sandboxed
/// WebAssembly components.
#[derive(Parser)]
#[command(name = "weir", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Write the log to this file (appended) instead of standard error;
    /// a coordinator or worker serves it through the REST API.
    #[arg(long, global = true, env = "WEIR_LOG_FILE")]
    log_file: Option<PathBuf>,
    /// Log lines as text or as JSON objects (one per line, with the
    /// job / operator / sub-task span fields).
    #[arg(
        long,
        global = true,
        env = "WEIR_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Sets up `tracing`: the filter from `$WEIR_LOG`, the format and the
/// destination from the command line.
fn init_logs(file: Option<&Path>, format: LogFormat, daemon: bool) -> Result<()> {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    // Guests' printed lines (target weir::guest) show by default; the
    // long-running coordinator and workers log at INFO, as Flink's do.
    let default = if daemon {
        "info"
    } else {
        "warn,weir::guest=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let (writer, ansi) = match file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening the log file {}", path.display()))?;
            (BoxMakeWriter::new(std::sync::Mutex::new(f)), false)
        }
        // Colours only on a terminal: logs piped to a file stay plain text.
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

#[derive(Subcommand)]
enum Command {
    /// Run a job on the embedded runner until its inputs end.
    ///
    /// Job parameters follow the job file as `--name value`; the job file
    /// declares them under [parameters]. Runner options may be mixed in:
    ///   --parallelism N, --quiet,
    ///   --checkpoint-interval 1s --checkpoint-dir <dir> (checkpoints),
    ///   --state-backend memory|rocksdb,
    ///   --restore <checkpoint dir> (resume after a crash: its latest
    ///   complete checkpoint), --from-savepoint <path>,
    ///   --allow-non-restored-state, --savepoint-dir <dir>,
    ///   --overwrite (a fresh run replaces earlier part files in its output
    ///   directories; without it, it refuses to start).
    /// Example:
    ///   weir run functions-examples/wordcount/wordcount.toml --input book.txt --output out/
    Run {
        /// The job file (TOML).
        job: PathBuf,
        /// Default parallelism of nodes that do not set their own.
        #[arg(short, long)]
        parallelism: Option<u32>,
        /// No progress line and no summary.
        #[arg(short, long)]
        quiet: bool,
        /// Job parameters: --name value ...
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PARAMS"
        )]
        params: Vec<String>,
    },
    /// Check a job file and the components it names, without running it.
    Validate {
        /// The job file (TOML).
        job: PathBuf,
        /// Job parameters: --name value ...
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PARAMS"
        )]
        params: Vec<String>,
    },
    /// Build a function crate (or a workspace of them) to wasm32-wasip2
    /// components.
    ///
    /// Uses the rustup wasm32-wasip2 target when installed, otherwise
    /// Debian's rustc with the standard library built from source (see
    /// scripts/setup-wasm-toolchain).
    Build {
        /// Directory of the crate or workspace.
        dir: PathBuf,
        /// Build without optimisations.
        #[arg(long)]
        debug: bool,
    },
    /// List the jobs running on this machine's embedded runners (or, with
    /// --coordinator, on a cluster).
    List {
        /// A cluster's REST URL (default: $WEIR_COORDINATOR if set).
        #[arg(long)]
        coordinator: Option<String>,
    },
    /// Take a savepoint of a running job; prints its path.
    Savepoint {
        /// The job's id (from `weir list`).
        id: String,
        /// A cluster's REST URL (default: $WEIR_COORDINATOR if set).
        #[arg(long)]
        coordinator: Option<String>,
        /// Directory to create the savepoint in (default: the job's
        /// --savepoint-dir, or savepoints/ in its checkpoint directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Stop a running job with a savepoint; prints its path.
    Stop {
        /// Take a savepoint first (required: use `weir cancel` to stop
        /// without one).
        #[arg(long, required = true)]
        savepoint: bool,
        /// The job's id (from `weir list`).
        id: String,
        /// Directory to create the savepoint in.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A cluster's REST URL (default: $WEIR_COORDINATOR if set).
        #[arg(long)]
        coordinator: Option<String>,
    },
    /// Cancel a running job without a savepoint.
    Cancel {
        /// The job's id (from `weir list`).
        id: String,
        /// A cluster's REST URL (default: $WEIR_COORDINATOR if set).
        #[arg(long)]
        coordinator: Option<String>,
    },
    /// Run a coordinator in the foreground (Flink's JobManager): the REST
    /// API, the workers' registry, jobs and their checkpoints.
    Coordinator {
        /// Where the REST API listens.
        #[arg(long, default_value = "127.0.0.1:8081")]
        rest_addr: std::net::SocketAddr,
        /// Where workers connect.
        #[arg(long, default_value = "127.0.0.1:6123")]
        rpc_addr: std::net::SocketAddr,
        /// Its directory (bundles, default checkpoint storage).
        #[arg(long, default_value = ".weir-coordinator")]
        data_dir: PathBuf,
        /// Durable storage for checkpoints, savepoints and uploaded
        /// bundles: a directory or s3://bucket/prefix (default: the data
        /// directory). S3 is configured by AWS_ENDPOINT_URL,
        /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
        #[arg(long, env = "WEIR_STORAGE_DIR")]
        storage_dir: Option<PathBuf>,
        #[command(flatten)]
        tls: cluster::TlsArgs,
        /// A file holding the cluster's token: REST calls that change
        /// something and every gRPC call then need it.
        #[arg(long, env = "WEIR_AUTH_TOKEN_FILE")]
        auth_token_file: Option<PathBuf>,
        /// REST reads need the token too (the dashboard's page stays open).
        #[arg(long)]
        auth_reads: bool,
    },
    /// Run a worker in the foreground (Flink's TaskManager).
    Worker {
        /// The coordinator's RPC address (host:port).
        #[arg(long)]
        coordinator: String,
        /// Sub-tasks of each chain it runs at once (default: its cores).
        #[arg(long)]
        slots: Option<u32>,
        /// Its directory (bundles, state, staged checkpoint files).
        #[arg(long, default_value = ".weir-worker")]
        data_dir: PathBuf,
        /// A file holding the cluster's token (as the coordinator's).
        #[arg(long, env = "WEIR_AUTH_TOKEN_FILE")]
        auth_token_file: Option<PathBuf>,
        /// Serve Prometheus metrics of its sub-tasks here (port 0: any
        /// free port, written to <data-dir>/metrics-addr).
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
        /// Where its services listen (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: std::net::SocketAddr,
        /// The host name or address others reach it by (needed when
        /// binding 0.0.0.0).
        #[arg(long)]
        advertise: Option<String>,
        #[command(flatten)]
        tls: cluster::TlsArgs,
    },
    /// Start, grow or stop a local cluster in the background.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Write a job file and its components into an application bundle
    /// (a zip) for `POST /jars/upload`.
    Package {
        /// The job file (TOML).
        job: PathBuf,
        /// The bundle to write (default: <job>.zip here).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Job parameters used to check the job: --name value ...
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PARAMS"
        )]
        params: Vec<String>,
    },
    /// Submit a job to a cluster: packages it, uploads what the coordinator
    /// does not have yet, runs it and prints its id (the last line).
    ///
    /// Takes the runner options and job parameters of `weir run`; paths
    /// among them are made absolute, since workers resolve them.
    Submit {
        /// The job file (TOML).
        job: PathBuf,
        /// The cluster's REST URL (default: $WEIR_COORDINATOR, then
        /// http://127.0.0.1:8081).
        #[arg(long)]
        coordinator: Option<String>,
        /// Follow the job to its end; exit 0 only if it FINISHED.
        #[arg(long)]
        wait: bool,
        /// Runner options and job parameters: --name value ...
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PARAMS"
        )]
        params: Vec<String>,
    },
    /// Store a component in the coordinator's registry; prints the
    /// reference a job file names it by (`registry:<name>@<digest>`).
    Upload {
        /// The component (.wasm).
        component: PathBuf,
        /// Its name in the registry (default: the file's stem).
        #[arg(long)]
        name: Option<String>,
        /// The cluster's REST URL (default: $WEIR_COORDINATOR, then
        /// http://127.0.0.1:8081).
        #[arg(long)]
        coordinator: Option<String>,
    },
    /// Measure a job against the same pipeline in plain native Rust.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Start a coordinator and workers in the background; waits until all
    /// registered and prints the REST URL (also in <dir>/rest-url).
    Start {
        /// Workers to start.
        #[arg(long, default_value_t = 1)]
        workers: u32,
        /// Slots of each worker (default: its cores).
        #[arg(long)]
        slots: Option<u32>,
        /// Directory for the processes' files and logs.
        #[arg(long, default_value = ".weir-cluster")]
        dir: PathBuf,
        /// The REST port (0: any free port).
        #[arg(long, default_value_t = 8081)]
        rest_port: u16,
        /// A file holding a token every process of the cluster then
        /// requires (clients send it from `$WEIR_AUTH_TOKEN_FILE`).
        #[arg(long)]
        auth_token_file: Option<PathBuf>,
    },
    /// Start one more worker.
    AddWorker {
        /// The cluster's directory.
        #[arg(long, default_value = ".weir-cluster")]
        dir: PathBuf,
        /// Its slots (default: its cores).
        #[arg(long)]
        slots: Option<u32>,
    },
    /// Stop every process of the cluster.
    Stop {
        /// The cluster's directory.
        #[arg(long, default_value = ".weir-cluster")]
        dir: PathBuf,
    },
}

/// A cluster's REST URL, when one is named (flag or $WEIR_COORDINATOR).
fn cluster_url(flag: Option<String>) -> Option<String> {
    flag.or_else(|| std::env::var("WEIR_COORDINATOR").ok())
}

/// Keeps freed heap memory for reuse instead of handing it back to the
/// kernel at every free: batches and guest results are large, short-lived
/// buffers, and glibc's default trimming made every batch fault its pages
/// back in (8x the page faults and ~15 % of WordCount's time).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets an allocator parameter; it is called once,
    // before any other thread exists, with a valid parameter and value.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let daemon = matches!(
        cli.command,
        Command::Coordinator { .. } | Command::Worker { .. }
    );
    if let Err(e) = init_logs(cli.log_file.as_deref(), cli.log_format, daemon) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let log_file = cli.log_file.clone();
    let result = match cli.command {
        Command::Run {
            job,
            parallelism,
            quiet,
            params,
        } => run::run(&job, parallelism, quiet, &params),
        Command::Validate { job, params } => run::validate(&job, &params),
        Command::Build { dir, debug } => build::build(&dir, !debug).map(|paths| {
            for p in paths {
                println!("{}", p.display());
            }
        }),
        Command::List { coordinator } => match cluster_url(coordinator) {
            Some(url) => cluster::list(&url),
            None => control::list(),
        },
        Command::Savepoint {
            id,
            dir,
            coordinator,
        } => match cluster_url(coordinator) {
            Some(url) => cluster::savepoint(&url, &id, dir.as_deref(), false),
            None => control::savepoint(&id, dir.as_deref(), false),
        },
        Command::Stop {
            id,
            dir,
            coordinator,
            ..
        } => match cluster_url(coordinator) {
            Some(url) => cluster::savepoint(&url, &id, dir.as_deref(), true),
            None => control::savepoint(&id, dir.as_deref(), true),
        },
        Command::Cancel { id, coordinator } => match cluster_url(coordinator) {
            Some(url) => cluster::cancel(&url, &id),
            None => control::cancel(&id),
        },
        Command::Coordinator {
            rest_addr,
            rpc_addr,
            data_dir,
            storage_dir,
            auth_token_file,
            auth_reads,
            tls,
        } => cluster::coordinator(cluster::CoordinatorOptions {
            tls,
            rest: rest_addr,
            rpc: rpc_addr,
            data_dir,
            storage_dir,
            log_file,
            auth_token_file,
            auth_reads,
        }),
        Command::Worker {
            coordinator,
            slots,
            data_dir,
            bind,
            advertise,
            auth_token_file,
            metrics_addr,
            tls,
        } => cluster::worker(
            &coordinator,
            cluster::WorkerOptions {
                tls,
                slots,
                data_dir,
                bind,
                advertise,
                log_file,
                auth_token_file,
                metrics_addr,
            },
        ),
        Command::Cluster { action } => match action {
            ClusterAction::Start {
                workers,
                slots,
                dir,
                rest_port,
                auth_token_file,
            } => cluster::start(&dir, workers, slots, rest_port, auth_token_file.as_deref()),
            ClusterAction::AddWorker { dir, slots } => cluster::add_worker(&dir, slots),
            ClusterAction::Stop { dir } => cluster::stop(&dir),
        },
        Command::Package {
            job,
            output,
            params,
        } => cluster::package(&job, output.as_deref(), &params),
        Command::Submit {
            job,
            coordinator,
            wait,
            params,
        } => cluster::submit(&job, coordinator.as_deref(), wait, &params),
        Command::Upload {
            component,
            name,
            coordinator,
        } => cluster::upload(&component, name.as_deref(), coordinator.as_deref()),
        Command::Bench { which } => bench::run(which),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
