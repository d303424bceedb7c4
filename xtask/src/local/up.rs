//! Bringing the local stack up (`cargo xtask up`, and everything that needs a stack: the demo,
//! the tests, the benchmark): install (once), start and provision it; write stack.env.

use crate::bridge;
use crate::layout::Layout;
use crate::local::process::{ServiceRecord, run_logged};
use crate::local::provision::{self, Settings};
use crate::local::services::{self, WatchSettings};
use crate::local::template::Template;
use crate::local::{install, sam};
use crate::ui;
use anyhow::{Context, Result};
use local_stack::{Endpoints, StackEnv, watch};

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
    /// The HTTP API's port, `API_URL` (default: 9200 if free, else any free port).
    #[arg(long, env = "API_PORT")]
    pub api_port: Option<u16>,
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
    /// Sender of the emails (verified in LocalStack's SES).
    #[arg(long, env = "EMAIL_FROM", default_value = provision::DEFAULT_EMAIL_FROM)]
    pub email_from: String,
    /// Sign-ups and resends one client may send per window (default: create-user's, 30 per 5
    /// minutes). Behind `cargo lambda watch` every request comes from 127.0.0.1: load runs
    /// raise it for their stack.
    #[arg(long, env = "SIGNUP_LIMIT_PER_IP")]
    pub signup_limit_per_ip: Option<u32>,
    /// Emails one address may get an hour (default: send-email's, 3).
    #[arg(long, env = "EMAILS_PER_ADDRESS_PER_HOUR")]
    pub emails_per_address_per_hour: Option<u32>,
}

const HEADER: &str = "Written by `cargo xtask up`: the local stack's coordinates. Do not edit.";

/// What `up` started (or found running), for the summary.
struct Stack {
    localstack: ServiceRecord,
    dynamodb: ServiceRecord,
    watch: ServiceRecord,
    bridge: ServiceRecord,
    env: StackEnv,
    /// Where `sam local`'s containers reach the emulators, when a Docker engine runs.
    sam_gateway: Option<String>,
}

pub async fn run(layout: &Layout, args: &UpArgs) -> Result<()> {
    // A broken template should fail before anything is installed or started.
    let template = Template::load(&layout.template())?;
    install::localstack(layout).await?;
    let dynamodb_dir = install::dynamodb_local(layout).await?;
    install::tools(layout).await?;

    let localstack = services::start_localstack(layout, args.localstack_port).await?;
    let dynamodb = services::start_dynamodb(layout, &dynamodb_dir, args.dynamodb_port).await?;
    let endpoints = Endpoints::on_ports(localstack.port, dynamodb.port);
    let settings = Settings {
        email_from: args.email_from.clone(),
    };
    let mut env = ui::step(
        "Provisioning template.yaml's resources (LocalStack + DynamoDB Local)",
        async |_| provision::provision(&template, &endpoints, &settings).await,
    )
    .await?;
    // The limits the functions run with, where this stack changes them: in stack.env, so that
    // everything that runs a function (cargo lambda watch, `sam local`, the benchmark) has them.
    for (variable, value) in [
        ("SIGNUP_LIMIT_PER_IP", args.signup_limit_per_ip),
        ("EMAILS_PER_ADDRESS_PER_HOUR", args.emails_per_address_per_hour),
    ] {
        if let Some(value) = value {
            env.push(variable, value.to_string());
        }
    }
    // cargo lambda watch reads the file when it starts; its own URLs are added afterwards.
    env.write(&layout.stack_env(), HEADER)?;

    let extra_env = function_env(args)?;
    let watch = start_functions(layout, &template, args, &extra_env).await?;
    let functions_url = watch::url(watch.port);
    env.push("FUNCTIONS_URL", functions_url.clone());
    for (variable, function, path) in watch::ROUTES {
        env.push(variable, watch::function_url(&functions_url, function, path));
    }
    env.push("VERIFY_URL_BASE", watch::verify_url_base(&functions_url));
    env.write(&layout.stack_env(), HEADER)?;
    ui::step("Starting the functions", async |progress| {
        services::warm_up_functions(&watch, progress).await
    })
    .await?;
    let bridge = services::start_bridge(layout, args.api_port).await?;
    // Every route of the template's HTTP API, under one base URL, as API Gateway serves them.
    env.push("API_URL", local_stack::loopback_url(bridge.port));
    env.write(&layout.stack_env(), HEADER)?;
    // With a Docker engine, `sam local` can run the functions in Lambda's own runtime too.
    let sam_gateway = sam::write_env_vars(layout, &template, &env, &extra_env, (localstack.port, dynamodb.port))?;
    print_summary(
        layout,
        &Stack {
            localstack,
            dynamodb,
            watch,
            bridge,
            env,
            sam_gateway,
        },
    );
    Ok(())
}

/// The functions' environment on top of `stack.env`, in order (a later one wins): the bcrypt
/// cost and `--function-env`.
fn function_env(args: &UpArgs) -> Result<Vec<(String, String)>> {
    let mut extra = Vec::new();
    if let Some(cost) = args.bcrypt_cost {
        extra.push(("BCRYPT_COST".to_owned(), cost.to_string()));
    }
    for pair in &args.function_env {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--function-env {pair:?}: expected KEY=VALUE"))?;
        extra.push((key.to_owned(), value.to_owned()));
    }
    Ok(extra)
}

/// Builds the functions, then starts `cargo lambda watch` serving them.
async fn start_functions(
    layout: &Layout,
    template: &Template,
    args: &UpArgs,
    extra_env: &[(String, String)],
) -> Result<ServiceRecord> {
    // Built before cargo lambda watch starts: it runs `cargo run` for every instance it spawns,
    // and instances started while a build holds cargo's lock would wait minutes for it.
    let profile = if args.release { "release" } else { "debug" };
    ui::step(&format!("Building the functions ({profile})"), async |progress| {
        let mut cargo = crate::cargo();
        cargo.arg("build").current_dir(&layout.root);
        for binary in template.function_binaries() {
            cargo.args(["--bin", &binary]);
        }
        if args.release {
            cargo.arg("--release");
        }
        run_logged(cargo, &layout.logs_dir().join("build.log"), progress).await
    })
    .await?;
    let settings = WatchSettings {
        stack_env: &layout.stack_env(),
        extra_env,
        release: args.release,
        concurrency: template.sqs_event_source(bridge::FUNCTION)?.max_concurrency.max(1),
    };
    services::start_watch(layout, args.functions_port, &settings).await
}

fn print_summary(layout: &Layout, stack: &Stack) {
    let row = |what: &str, address: &str, record: &ServiceRecord| {
        eprintln!("  {what:<15} {address}   log: {}", record.log.display());
    };
    eprintln!("\nLocal stack is up.");
    let endpoints = Endpoints::on_ports(stack.localstack.port, stack.dynamodb.port);
    row("LocalStack", &endpoints.localstack, &stack.localstack);
    row("DynamoDB Local", &endpoints.dynamodb, &stack.dynamodb);
    row("Functions", &watch::url(stack.watch.port), &stack.watch);
    let queue = stack.env.get("EMAIL_QUEUE_URL").unwrap_or("?");
    row("SQS bridge", &format!("{queue} -> {}", bridge::FUNCTION), &stack.bridge);
    row("HTTP API", stack.env.get("API_URL").unwrap_or("?"), &stack.bridge);
    let stack_env = layout.stack_env();
    eprintln!("  {:<15} {}", "Coordinates", stack_env.display());
    match &stack.sam_gateway {
        Some(gateway) => eprintln!(
            "  {:<15} {} (emulators at {gateway} for containers)",
            "sam local",
            layout.sam_env().display()
        ),
        None => eprintln!("  {:<15} no Docker engine: not set up", "sam local"),
    }
    eprintln!(
        "Load them in a shell with `set -a; . {}; set +a`; stop with `cargo xtask down`.",
        stack_env.display()
    );
}
