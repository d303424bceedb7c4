//! The README's commands, extracted from it and run exactly as written, so that it cannot rot:
//! the quickstart (`cargo xtask demo`; `cargo xtask test` is the command running this test,
//! so it is checked to be what CI runs) and the local stack's shell recipes, which must end in
//! the email for `events/user-created.json`.
//!
//! It runs on the developer's stack in `.local`, as a reader would; when that stack was not up
//! before, the test brings it down again.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use xtask::layout::Layout;
use xtask::local::services;

mod support;

fn root() -> PathBuf {
    Layout::workspace_root()
}

/// The ```sh blocks under `heading`, up to the next heading (of any level).
fn sh_blocks(readme: &str, heading: &str) -> Vec<String> {
    let mut lines = readme.lines().skip_while(|l| l.trim_end() != heading).skip(1);
    let mut blocks = Vec::new();
    while let Some(line) = lines.next() {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes > 0 && line.chars().nth(hashes) == Some(' ') {
            break;
        }
        if line.trim_end() == "```sh" {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim_end() != "```").collect();
            blocks.push(block.join("\n"));
        }
    }
    blocks
}

fn bash(script: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-o", "pipefail", "-c", script]).current_dir(root());
    cmd
}

fn run(script: &str) -> String {
    let out = bash(script)
        // What the earlier recipe's `export PATH=...` gives the reader's shell.
        .env("PATH", Layout::new(root(), None).path_with_tools())
        .output()
        .expect("bash runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "README command failed ({}):\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    format!("{stdout}{stderr}")
}

/// Brings the developer stack down at the end if this test was the one to bring it up.
struct DownIfStarted(bool);

impl Drop for DownIfStarted {
    fn drop(&mut self) {
        if self.0 {
            let _ = Command::new(env!("CARGO_BIN_EXE_xtask"))
                .arg("down")
                .current_dir(root())
                .status();
        }
    }
}

#[test]
fn readme_commands_work_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let layout = Layout::new(root(), None);
    let _down = DownIfStarted(!services::all_running(&layout));

    let quickstart = sh_blocks(&readme, "## Quickstart");
    assert_eq!(
        quickstart,
        ["cargo xtask demo", "cargo xtask test"],
        "the quickstart's two commands"
    );
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == quickstart[1]),
        "CI must run the README's test command as written"
    );
    let demo = run(&quickstart[0]);
    assert!(
        demo.contains("Confirm your email address")
            && demo.matches("-> 200").count() == 2
            && demo.contains("\"token\""),
        "the demo shows the verification email, the session its link gives, and a sign-in's:\n{demo}"
    );

    let recipes = sh_blocks(&readme, "## The local stack");
    assert_eq!(recipes.len(), 1, "one recipe block in 'The local stack'");
    let output = run(&recipes[0]);
    // The curl sign-up and resend: the one answer, whatever the address's state; then the
    // newest link's token: the session on a first run, `token_used` on later ones.
    assert!(output.contains("\"status\":\"accepted\""), "{output}");
    assert!(
        output.contains("\"token\":\"eyJ") || output.contains("token_used"),
        "{output}"
    );
    assert!(
        output.contains("MessageId"),
        "awslocal sns publish printed its MessageId:\n{output}"
    );

    own_watch_recipe_works(&readme);
    sam_local_recipe_works(&readme);
    inline_commands_work(&readme);

    // ... and the published event ends in an email.
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("events/user-created.json")).unwrap()).unwrap();
    let to = event["user"]["email"].as_str().unwrap().to_owned();
    let env = local_stack::StackEnv::read(&layout.stack_env()).unwrap();
    let port = env.port("AWS_ENDPOINT_URL").unwrap();
    assert!(
        support::emails_to(port, &to, Duration::from_secs(60)) > 0,
        "no email to {to} within 60 s of the README's publish"
    );
}

/// The inline commands of [`RUN_INLINE`], each as the README shows it: the `cargo xtask` ones
/// as they are, the others in a shell with the stack's variables, as "The local stack" says.
fn inline_commands_work(readme: &str) {
    let shown = inline_commands(readme);
    for command in RUN_INLINE {
        assert!(
            shown.iter().any(|c| c == command),
            "the README no longer shows `{command}`"
        );
        let script = if command.starts_with("cargo xtask ") {
            command.to_string()
        } else {
            format!("set -a; . .local/stack.env; set +a\n{command}")
        };
        run(&script);
    }
}

/// "Running the functions in your own terminal": its first line starts a second cargo lambda
/// watch (a server, so it runs in the background here), the rest must work against it.
fn own_watch_recipe_works(readme: &str) {
    let blocks = sh_blocks(readme, "### Running the functions in your own terminal");
    assert_eq!(blocks.len(), 1);
    let (watch, rest) = blocks[0].split_once('\n').unwrap();
    assert!(
        watch.starts_with("cargo lambda watch ") && watch.contains(" --invoke-port "),
        "{watch}"
    );
    let port: u16 = watch.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port {port} (from the README's recipe) is taken: free it to run this test"
    );
    let mut cmd = bash(&format!("exec {watch}"));
    cmd.env("PATH", Layout::new(root(), None).path_with_tools());
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("readme-watch.log");
    let _server = support::serve("readme-watch", cmd, port, &log, &format!("`{watch}`"));
    let output = run(rest);
    assert!(
        output.contains("\"status\":\"accepted\""),
        "create-user through the second watch:\n{output}"
    );
}

/// "With Docker": the `sam local` commands, as written, on the stack `up` brought up (it
/// wrote `.local/sam-env.json`) and `sam build`'s output. The base image is AWS's where it can
/// be pulled, else the stand-in under AWS's name (`cargo xtask sam-image`, as the README says).
fn sam_local_recipe_works(readme: &str) {
    let blocks = sh_blocks(
        readme,
        "### With Docker: `sam local`, the functions in Lambda's own runtime",
    );
    assert_eq!(blocks.len(), 1, "one sam local block");
    assert!(
        xtask::local::sam::docker_gateway().is_some(),
        "no Docker engine answers: the README's sam local commands need one (`cargo xtask test` starts one)"
    );
    assert!(
        root().join(".aws-sam/build/template.yaml").exists(),
        "no .aws-sam/build: run `sam build` first, as the README says (`cargo xtask test` does)"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", 3000)).is_ok(),
        "port 3000 (the README's start-api) is taken: free it to run this test"
    );
    let image = support::blocking(xtask::local::sam::ensure_base_image(&Layout::new(root(), None))).unwrap();
    eprintln!("sam local runs on {}: {image:?}", xtask::local::sam::AWS_BASE_IMAGE);
    let output = run(&blocks[0]);
    assert!(
        output.contains("\"statusCode\": 202"),
        "create-user answered in Lambda's runtime:\n{output}"
    );
    assert!(
        output.contains("\"batchItemFailures\": []"),
        "send-email answered with no failure:\n{output}"
    );
    assert!(
        output.matches("\"status\":\"accepted\"").count() >= 2,
        "start-api's POST /users and POST /users/verification answered:\n{output}"
    );
}

/// The headings whose ```sh blocks `readme_commands_work_as_written` runs as written.
const RUN_BLOCKS: &[&str] = &[
    "## Quickstart",
    "## The local stack",
    "### Running the functions in your own terminal",
    "### With Docker: `sam local`, the functions in Lambda's own runtime",
];

/// Blocks not run here, and why.
const NOT_RUN_BLOCKS: &[(&str, &str)] = &[
    (
        "## Deploying to AWS",
        "deploys to a real AWS account (sam build alone: `cargo xtask test` runs it before the tests)",
    ),
    (
        "### Rotating a key",
        "rotates a key in a real AWS account; crates/tokens/tests/rotation.rs does it on LocalStack's SSM",
    ),
];

/// Commands shown inline that `readme_commands_work_as_written` runs as written (besides any
/// that is a line, or the start of a line, of a block it runs).
const RUN_INLINE: &[&str] = &[
    "cargo xtask status",
    "cargo xtask redrive",
    "cargo xtask sam-image",
    r#"awslocal sqs receive-message --queue-url "$EMAIL_DLQ_URL" --max-number-of-messages 10 --visibility-timeout 0"#,
];

/// Commands shown inline that other steps run: `.ci/run` (checked to hold the command), or the
/// test named.
const RUN_ELSEWHERE: &[(&str, &str)] = &[
    ("cargo xtask lint", ".ci/run"),
    ("cargo xtask bench --quick", ".ci/run"),
    (
        "sam build",
        "`cargo xtask test`, before the tests, when .aws-sam/build is missing or stale (xtask/src/local/sam_build.rs)",
    ),
    (
        "rustup target add aarch64-unknown-linux-gnu",
        "`cargo xtask test`, before its `sam build` (xtask/src/local/sam_build.rs)",
    ),
    (
        "cargo xtask up",
        "the demo's first step, and every test that brings a stack up",
    ),
    (
        "cargo xtask down",
        "this test's teardown when it brought the stack up (else it would stop the reader's)",
    ),
    (
        "cargo xtask bridge",
        "started by `up`; its own tests in xtask/tests/bridge.rs",
    ),
    (
        "cargo xtask gen",
        "xtask/tests/generated.rs fails when its output is stale",
    ),
    (
        "cargo xtask bench",
        "its quick mode in .ci/run; the full run takes ~25 minutes",
    ),
    ("cargo fmt --check", "a step of `cargo xtask lint`"),
    (
        "cargo clippy --all-targets -- -D warnings",
        "a step of `cargo xtask lint`",
    ),
    ("sam validate --lint", "a step of `cargo xtask lint`"),
    ("cargo lambda build", "what `sam build` runs for each function"),
];

/// Commands shown inline that no test runs, and why.
const NOT_RUN_INLINE: &[(&str, &str)] = &[
    (
        "apt-get install openjdk-17-jre-headless",
        "changes the machine's packages (.ci/run installs Java itself)",
    ),
    (
        "pip install cargo-lambda",
        "the alternative to the tools venv `up` installs, which has it",
    ),
    (
        "apt-get install valgrind",
        "changes the machine's packages; only `cargo xtask bench --instructions` needs it, and says so when it is missing",
    ),
    ("docker rmi", "a mention: it names no image, and would delete SAM's"),
    (
        "docker compose -f localstack/compose.yaml up -d --wait",
        "LocalStack's image is on Docker Hub, which no registry here serves",
    ),
];

/// Words that start a command in an inline code span (a bare tool name, such as `sam local`,
/// is a mention of the tool and is covered by the blocks that use it).
const COMMAND_WORDS: &[&str] = &[
    "cargo xtask ",
    "cargo fmt",
    "cargo clippy",
    "cargo lambda build",
    "aws ",
    "awslocal ",
    "curl ",
    "docker ",
    "pip ",
    "apt-get ",
    "rustup ",
    "sam build",
    "sam validate",
    "sam deploy",
];

/// Sections whose inline commands are for a stack deployed on AWS, and so are not run here.
const AWS_SECTIONS: &[&str] = &["## Operating it", "## Deploying to AWS"];

/// Every inline code span of the README that is a command, whitespace (line breaks)
/// collapsed, outside the sections of [`AWS_SECTIONS`].
fn inline_commands(readme: &str) -> Vec<String> {
    let mut outside_blocks = String::new();
    let (mut in_block, mut on_aws) = (false, false);
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if !in_block {
            if line.starts_with("## ") {
                on_aws = AWS_SECTIONS.contains(&line.trim_end());
            }
            if !on_aws {
                outside_blocks.push_str(line);
                outside_blocks.push('\n');
            }
        }
    }
    outside_blocks
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|span| span.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|span| {
            COMMAND_WORDS
                .iter()
                .any(|w| span.starts_with(w) || span == w.trim_end())
        })
        .collect()
}

/// The README's every command is run here, run elsewhere (said where), or listed with the
/// reason it is not: a new command cannot be added to it untested without this failing.
#[test]
fn every_command_the_readme_shows_is_run_or_excused() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let headings: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with('#') && l.contains("# "))
        .collect();
    let mut run_lines = Vec::new();
    for heading in headings {
        let blocks = sh_blocks(&readme, heading);
        if blocks.is_empty() {
            continue;
        }
        if RUN_BLOCKS.contains(&heading) {
            run_lines.extend(blocks.iter().flat_map(|b| b.lines().map(str::trim).map(str::to_owned)));
        } else {
            assert!(
                NOT_RUN_BLOCKS.iter().any(|(h, _)| *h == heading),
                "the commands under {heading:?} are neither run by this test nor listed in NOT_RUN_BLOCKS"
            );
        }
    }
    for command in inline_commands(&readme) {
        let in_run_block = run_lines.iter().any(|line| line.starts_with(&command));
        let elsewhere = RUN_ELSEWHERE.iter().find(|(c, _)| *c == command);
        if let Some((_, ".ci/run")) = elsewhere {
            assert!(
                ci.lines().any(|l| l.contains(&command)),
                "{command:?}: said to run in .ci/run, which does not run it"
            );
        }
        assert!(
            in_run_block
                || RUN_INLINE.contains(&command.as_str())
                || elsewhere.is_some()
                || NOT_RUN_INLINE.iter().any(|(c, _)| *c == command),
            "the README shows `{command}`, which no test runs and no list here excuses"
        );
    }
}

#[test]
fn finds_the_sections_blocks() {
    let text = "# t\n## A\n```sh\na 1\na 2\n```\n### A.1\n```sh\nb\n```\n## B\n```sh\nc\n```\n";
    assert_eq!(sh_blocks(text, "## A"), ["a 1\na 2"]);
    assert_eq!(sh_blocks(text, "### A.1"), ["b"]);
    assert_eq!(sh_blocks(text, "## B"), ["c"]);
    assert!(sh_blocks(text, "## C").is_empty());
}
