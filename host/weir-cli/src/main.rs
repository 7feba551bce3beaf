//! `weir`: run, validate and build Weir stream jobs, and benchmark them.

mod bench;
mod build;
mod control;
mod params;
mod run;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Weir runs stream processing jobs whose functions are sandboxed
/// WebAssembly components.
#[derive(Parser)]
#[command(name = "weir", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// List the jobs running on this machine's embedded runners.
    List,
    /// Take a savepoint of a running job; prints its path.
    Savepoint {
        /// The job's id (from `weir list`).
        id: String,
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
    },
    /// Cancel a running job without a savepoint.
    Cancel {
        /// The job's id (from `weir list`).
        id: String,
    },
    /// Measure a job against the same pipeline in plain native Rust.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
                // Guests' printed lines (target weir::guest) show by default.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,weir::guest=info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs piped to a file stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
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
        Command::List => control::list(),
        Command::Savepoint { id, dir } => control::savepoint(&id, dir.as_deref(), false),
        Command::Stop { id, dir, .. } => control::savepoint(&id, dir.as_deref(), true),
        Command::Cancel { id } => control::cancel(&id),
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
