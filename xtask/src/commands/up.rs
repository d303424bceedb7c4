//! `cargo xtask up`: install (once), start and provision the local stack; write stack.env.

use super::bridge;
use crate::layout::Layout;
use crate::provision::{self, Endpoints, Settings};
use crate::template::Template;
use crate::{env_file, install, sam_local, services, ui};
use anyhow::{Context, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// LocalStack's port (default: 4566 if free, else any free port).
    #[arg(long, env = "LOCALSTACK_PORT")]
    pub localstack_port: Option<u16>,
    /// DynamoDB Local's port (default: 8000 if free, else any free port).
    #[arg(long, env = "DYNAMODB_PORT")]
    pub dynamodb_port: Option<u16>,
    /// cargo lambda watch's port (default: 9000 if free, else any free port).
    #[arg(long, env = "FUNCTIONS_PORT")]
    pub functions_port: Option<u16>,
    /// bcrypt cost of the local create-user (default: the function's own, 12).
    #[arg(long, env = "BCRYPT_COST")]
    pub bcrypt_cost: Option<u32>,
    /// Extra environment for the functions, KEY=VALUE (repeatable): EMAIL_TRANSPORT=log for
    /// dry runs, or an endpoint override to inject a fault.
    #[arg(long = "function-env", value_name = "KEY=VALUE")]
    pub function_env: Vec<String>,
    /// Build the functions with --release (what the benchmark measures).
    #[arg(long)]
    pub release: bool,
    /// Sender of the welcome email (verified in LocalStack's SES).
    #[arg(long, env = "EMAIL_FROM", default_value = provision::DEFAULT_EMAIL_FROM)]
    pub email_from: String,
}

pub fn run(layout: &Layout, args: &UpArgs) -> Result<()> {
    // A broken template should fail before anything is installed or started.
    let template = Template::load(&layout.template())?;
    install::ensure_localstack(layout)?;
    let dynamodb_dir = install::ensure_dynamodb_local(layout)?;
    install::ensure_tools(layout)?;

    let localstack = services::ensure_localstack(layout, args.localstack_port)?;
    let dynamodb = services::ensure_dynamodb(layout, &dynamodb_dir, args.dynamodb_port)?;
    let endpoints = Endpoints::on_ports(localstack.port, dynamodb.port);

    let settings = Settings {
        email_from: args.email_from.clone(),
    };
    let entries = ui::step(
        "Provisioning template.yaml's resources (LocalStack + DynamoDB Local)",
        |_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(provision::provision(&template, &endpoints, &settings))
        },
    )?;
    let mut entries = entries;
    let stack_env = layout.stack_env();
    let header = "Written by `cargo xtask up`: the local stack's coordinates. Do not edit.";
    // cargo lambda watch reads the file when it starts; its own URL is added afterwards.
    env_file::write(&stack_env, header, &entries)?;
    let mut extra_env: Vec<(String, String)> = args
        .bcrypt_cost
        .iter()
        .map(|cost| ("BCRYPT_COST".to_owned(), cost.to_string()))
        .collect();
    for pair in &args.function_env {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--function-env {pair:?}: expected KEY=VALUE"))?;
        extra_env.push((key.to_owned(), value.to_owned()));
    }
    // Built before cargo lambda watch starts: it runs `cargo run` for every instance it spawns,
    // and instances started while a build holds cargo's lock would wait minutes for it.
    ui::step(
        &format!(
            "Building the functions ({})",
            if args.release { "release" } else { "debug" }
        ),
        |progress| {
            let mut cargo = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cargo.arg("build").current_dir(&layout.root);
            for binary in template.function_binaries() {
                cargo.args(["--bin", &binary]);
            }
            if args.release {
                cargo.arg("--release");
            }
            install::run_logged(cargo, &layout.logs_dir().join("build.log"), progress)
        },
    )?;
    let watch = services::ensure_watch(
        layout,
        args.functions_port,
        &stack_env,
        &extra_env,
        args.release,
        template.sqs_event_source(bridge::FUNCTION)?.max_concurrency.max(1),
    )?;
    let functions_url = format!("http://127.0.0.1:{}", watch.port);
    entries.push(("FUNCTIONS_URL".into(), functions_url.clone()));
    entries.push((
        "CREATE_USER_URL".into(),
        format!("{functions_url}/lambda-url/create-user/users"),
    ));
    env_file::write(&stack_env, header, &entries)?;
    ui::step("Starting the functions", |progress| {
        services::warm_up_functions(&watch, progress)
    })?;
    let bridge = services::ensure_bridge(layout)?;
    // With a Docker engine, `sam local` can run the functions in Lambda's own runtime too.
    let sam_gateway = sam_local::write_env_vars(
        layout,
        &template,
        &entries,
        &extra_env,
        (localstack.port, dynamodb.port),
    )?;

    eprintln!("\nLocal stack is up.");
    eprintln!(
        "  LocalStack      {}   log: {}",
        endpoints.localstack,
        localstack.log.display()
    );
    eprintln!(
        "  DynamoDB Local  {}   log: {}",
        endpoints.dynamodb,
        dynamodb.log.display()
    );
    eprintln!("  Functions       {functions_url}   log: {}", watch.log.display());
    eprintln!(
        "  SQS bridge      {} -> send-email   log: {}",
        env_file::get(&entries, "EMAIL_QUEUE_URL").unwrap_or("?"),
        bridge.log.display()
    );
    eprintln!("  Coordinates     {}", stack_env.display());
    match sam_gateway {
        Some(gateway) => eprintln!(
            "  sam local       {} (emulators at {gateway} for containers)",
            layout.sam_env().display()
        ),
        None => eprintln!("  sam local       no Docker engine: not set up"),
    }
    eprintln!(
        "Load them in a shell with `set -a; . {}; set +a`; stop with `cargo xtask down`.",
        stack_env.display()
    );
    Ok(())
}
