//! The `cargo xtask` command line: parses it and runs the command, through
//! [`xtask::commands`].

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use xtask::commands::{bench, bridge, demo, down, generate, lint, redrive, sam_image, status, test, up};
use xtask::layout::Layout;
use xtask::local::up::UpArgs;

/// Project automation for the sign-up pipeline.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    /// Show details of each step.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Keep this stack's run state (pids, logs, stack.env) here instead of .local/, to run a
    /// second stack beside the first.
    #[arg(long, global = true, env = "XTASK_STATE_DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: bring everything up, sign a user up, show the event and the welcome email.
    Demo(UpArgs),
    /// Install (once), start and provision LocalStack + DynamoDB Local; write .local/stack.env.
    Up(UpArgs),
    /// Stop everything `up` started.
    Down,
    /// Show what runs where.
    Status,
    /// Run the whole test suite against the local stack (starting it if needed), after setting
    /// up what `sam local` needs: a Docker engine, `sam build`'s output, its base image.
    Test {
        #[command(flatten)]
        up: UpArgs,
        /// Passed on to `cargo test`.
        #[arg(last = true)]
        cargo_test_args: Vec<String>,
    },
    /// cargo fmt --check, clippy -D warnings, sam validate --lint, cfn-lint.
    Lint,
    /// Measure latency and throughput on a stack of its own; writes bench/results.md.
    Bench(xtask::bench::BenchArgs),
    /// Move every message of the email DLQ back to the email queue.
    Redrive,
    /// Run the local SQS -> send-email event source mapping in the foreground (`up` starts it).
    Bridge(bridge::BridgeArgs),
    /// Regenerate committed files derived from template.yaml (localstack/stack.yaml).
    Gen,
    /// Make sure `sam local` has an arm64 base image: AWS's, or a stand-in where no registry answers
    /// (starting a Docker engine for it if none runs).
    SamImage,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    xtask::ui::set_verbose(cli.verbose);
    let state_dir = cli
        .state_dir
        .map(|dir| std::path::absolute(dir).expect("current dir is readable"));
    let layout = Layout::new(Layout::workspace_root(), state_dir);
    let result = match &cli.command {
        Command::Demo(args) => demo::run(&layout, args).await,
        Command::Up(args) => up::run(&layout, args).await,
        Command::Down => down::run(&layout).await,
        Command::Status => status::run(&layout).await,
        Command::Test { up, cargo_test_args } => test::run(&layout, up, cargo_test_args).await,
        Command::Lint => lint::run(&layout).await,
        Command::Bench(args) => bench::run(&layout, args).await,
        Command::Redrive => redrive::run(&layout).await,
        Command::Bridge(args) => bridge::run(&layout, args).await,
        Command::Gen => generate::run(&layout).await,
        Command::SamImage => sam_image::run(&layout).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
