//! The commands of the README and of `docs/`, extracted from them and run exactly as written, so
//! that they cannot rot: the README's quickstart (`cargo xtask demo`; `cargo xtask test` is the
//! command running this test, so it is checked to be what CI runs), its three recipes for
//! driving the local stack (curl and `awslocal sns publish`, which must end in the email for
//! `events/user-created.json`; a `cargo lambda watch` of one's own; `sam local`), and the
//! commands shown inline. Every other command, in any of those files, is run elsewhere or
//! excused here with the reason; and every relative link among them must lead somewhere.
//!
//! It runs on the developer's stack in `.local`, as a reader would; when that stack was not up
//! before, the test brings it down again.

use markdown::{Section, anchors, headings, inline_commands, link_targets, sections, sh_blocks};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xtask::layout::Layout;
use xtask::local::services;

mod support;

fn root() -> PathBuf {
    Layout::workspace_root()
}

const README: &str = "README.md";
const DEPLOYING: &str = "docs/deploying.md";

/// The README and every `docs/*.md`, each with its path from the workspace root (with `/`, as
/// [`Section`]s name them).
struct Docs(Vec<(String, String)>);

impl Docs {
    fn read() -> Docs {
        // None while there is no docs/: the README's links into it would fail their own test.
        let mut names: Vec<String> = std::fs::read_dir(root().join("docs"))
            .into_iter()
            .flatten()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".md"))
            .collect();
        names.sort();
        let files = std::iter::once(README.to_owned()).chain(names.into_iter().map(|name| format!("docs/{name}")));
        Docs(
            files
                .map(|file| {
                    let text = std::fs::read_to_string(root().join(&file)).unwrap();
                    (file, text)
                })
                .collect(),
        )
    }

    fn text(&self, file: &str) -> &str {
        self.0
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, text)| text.as_str())
            .unwrap_or_else(|| panic!("no {file} among the README and docs/*.md"))
    }

    /// The ```sh blocks of a section.
    fn sh_blocks(&self, (file, heading): Section) -> Vec<String> {
        sh_blocks(self.text(file), heading)
    }

    /// Every inline command of every file, with the file that shows it.
    fn inline_commands(&self) -> Vec<(&str, String)> {
        self.0
            .iter()
            .flat_map(|(file, text)| {
                inline_commands(file, text, AWS_SECTIONS)
                    .into_iter()
                    .map(move |command| (file.as_str(), command))
            })
            .collect()
    }
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
    let docs = Docs::read();
    let layout = Layout::new(root(), None);
    let _down = DownIfStarted(!services::all_running(&layout));

    let quickstart = docs.sh_blocks(QUICKSTART);
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

    let recipes = docs.sh_blocks(LOCAL_STACK_RECIPE);
    assert_eq!(recipes.len(), 1, "one recipe block in {LOCAL_STACK_RECIPE:?}");
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

    own_watch_recipe_works(&docs);
    sam_local_recipe_works(&docs);
    inline_commands_work(&docs);

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

/// The inline commands of [`RUN_INLINE`], each as the README or a document shows it: the
/// `cargo xtask` ones as they are, the others in a shell with the stack's variables, as the
/// README's recipe sets them.
fn inline_commands_work(docs: &Docs) {
    let shown = docs.inline_commands();
    for command in RUN_INLINE {
        assert!(
            shown.iter().any(|(_, c)| c == command),
            "neither the README nor docs/ shows `{command}` any more"
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
fn own_watch_recipe_works(docs: &Docs) {
    let blocks = docs.sh_blocks(OWN_WATCH_RECIPE);
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
fn sam_local_recipe_works(docs: &Docs) {
    let blocks = docs.sh_blocks(SAM_LOCAL_RECIPE);
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

const QUICKSTART: Section = (README, "## Quickstart");
const LOCAL_STACK_RECIPE: Section = (README, "## Using the local stack");
const OWN_WATCH_RECIPE: Section = (README, "### Running the functions in your own terminal");
const SAM_LOCAL_RECIPE: Section = (
    README,
    "### With Docker: `sam local`, the functions in Lambda's own runtime",
);

/// The sections whose ```sh blocks `readme_commands_work_as_written` runs as written.
const RUN_BLOCKS: &[Section] = &[QUICKSTART, LOCAL_STACK_RECIPE, OWN_WATCH_RECIPE, SAM_LOCAL_RECIPE];

/// Blocks not run here, and why.
const NOT_RUN_BLOCKS: &[(Section, &str)] = &[
    (
        (DEPLOYING, "## First deployment"),
        "deploys to a real AWS account (sam build alone: `cargo xtask test` runs it before the tests)",
    ),
    (
        (DEPLOYING, "## Rotating a key"),
        "rotates a key in a real AWS account; crates/tokens/tests/rotation.rs does it on LocalStack's SSM",
    ),
];

/// Commands shown inline, in any of the files, that `readme_commands_work_as_written` runs as
/// written (besides any that is a line, or the start of a line, of a block it runs).
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
    (
        "cargo xtask bench --sweep",
        "15 minutes of measuring; its arithmetic, choice and report are xtask::bench::sweep's unit tests, and it runs the same cold starts and warm runs as .ci/run's `bench --quick`",
    ),
    ("docker rmi", "a mention: it names no image, and would delete SAM's"),
    (
        "docker compose -f localstack/compose.yaml up -d --wait",
        "LocalStack's image is on Docker Hub, which no registry here serves",
    ),
    (
        "npx @redocly/cli build-docs openapi.yaml",
        "downloads a tool from npm; the document's own validity is tested by xtask/tests/openapi.rs",
    ),
    (
        "npx @openapitools/openapi-generator-cli generate -i openapi.yaml -g typescript-fetch -o client/",
        "downloads a tool from npm (and Java's generator); the document's own validity is tested by xtask/tests/openapi.rs",
    ),
];

/// Sections (with every section under them) whose inline commands are for a stack deployed on
/// AWS, and so are not run here: a file's title names the whole file.
const AWS_SECTIONS: &[Section] = &[
    ("docs/operating.md", "# Operating it"),
    (DEPLOYING, "# Deploying to AWS"),
];

/// Info strings of fenced blocks that would hold shell commands this test does not read: the
/// shell is written ```sh, or its commands would escape the check below.
const OTHER_SHELL_FENCES: &[&str] = &["bash", "shell", "console", "zsh", "shell-session"];

/// Every command of the README and of `docs/` is run here, run elsewhere (said where), or
/// listed with the reason it is not: a new command cannot be added to any of them untested
/// without this failing.
#[test]
fn every_command_the_readme_shows_is_run_or_excused() {
    let docs = Docs::read();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    // A retitled or moved section must be renamed here too, or its blocks would go unread.
    for &(file, heading) in RUN_BLOCKS.iter().chain(NOT_RUN_BLOCKS.iter().map(|(s, _)| s)) {
        assert!(
            !docs.sh_blocks((file, heading)).is_empty(),
            "{file} has no ```sh block under {heading:?}: update the lists here to where it went"
        );
    }
    for &(file, heading) in AWS_SECTIONS {
        assert!(
            headings(docs.text(file)).any(|(_, h)| h == heading),
            "{file} has no heading {heading:?} (AWS_SECTIONS)"
        );
    }
    let mut run_lines = Vec::new();
    for (file, text) in &docs.0 {
        let sections = sections(text);
        for (i, (heading, blocks)) in sections.iter().enumerate() {
            if blocks.is_empty() {
                continue;
            }
            // The lists name a section by its heading: blocks before the first heading, or under
            // the second copy of one, could not be named there.
            assert!(!heading.is_empty(), "{file}: a ```sh block before the first heading");
            assert!(
                sections[..i].iter().all(|(h, _)| h != heading),
                "{file}: {heading:?} is written twice, and only the first can be named"
            );
            let section = (file.as_str(), *heading);
            if RUN_BLOCKS.contains(&section) {
                run_lines.extend(blocks.iter().flat_map(|b| b.lines().map(str::trim).map(str::to_owned)));
            } else {
                assert!(
                    NOT_RUN_BLOCKS.iter().any(|(s, _)| *s == section),
                    "the commands under {heading:?} in {file} are neither run by this test nor listed in NOT_RUN_BLOCKS"
                );
            }
        }
        if let Some(info) = markdown::fences(text).find(|info| OTHER_SHELL_FENCES.contains(info)) {
            panic!("{file}: a ```{info} block; write shell as ```sh, which this test reads");
        }
    }
    for (file, command) in docs.inline_commands() {
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
            "{file} shows `{command}`, which no test runs and no list here excuses"
        );
    }
}

/// Every relative link of the README and of `docs/` (images too) names a file or directory of
/// the repository, and its `#anchor`, if any, a heading of that markdown file: moving a section
/// between files must not leave a link behind. And the README links every document, so that a
/// newcomer finds each from it.
#[test]
fn every_relative_link_leads_somewhere() {
    let docs = Docs::read();
    let from_readme = link_targets(docs.text(README));
    for (file, _) in docs.0.iter().filter(|(f, _)| f != README) {
        assert!(
            from_readme.iter().any(|t| t.split('#').next() == Some(file.as_str())),
            "the README does not link {file} (its \"Read on\" list should)"
        );
    }
    let mut broken = Vec::new();
    for (file, text) in &docs.0 {
        for target in link_targets(text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if let Err(why) = link_leads_somewhere(&root(), file, &target) {
                broken.push(format!("{file}: ({target}): {why}"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Whether `target`, a relative link in `file` (a path from `root`), names something under
/// `root` and, for an `#anchor`, a heading there.
fn link_leads_somewhere(root: &Path, file: &str, target: &str) -> Result<(), String> {
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let linked = if path.is_empty() {
        PathBuf::from(file)
    } else {
        within(&Path::new(file).parent().unwrap_or(Path::new("")).join(path))
            .ok_or("it leads out of the repository (GitHub would not serve it)")?
    };
    if !root.join(&linked).exists() {
        return Err(format!("no {}", linked.display()));
    }
    let Some(anchor) = anchor else { return Ok(()) };
    if linked.extension().is_none_or(|e| e != "md") {
        return Err("an anchor into a file that is not markdown, which this test cannot check".into());
    }
    let text = std::fs::read_to_string(root.join(&linked)).map_err(|e| e.to_string())?;
    if anchors(&text).iter().any(|a| a == anchor) {
        Ok(())
    } else {
        Err(format!("no heading of {} has the anchor #{anchor}", linked.display()))
    }
}

/// `path` with its `.` and `..` resolved, or none if it climbs above where it starts.
fn within(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

mod markdown {
    //! Reading markdown as GitHub renders it, as far as the README test needs: headings and
    //! sections, fenced blocks, inline code spans that are commands, links and the anchors
    //! GitHub gives headings. Lines inside fenced blocks are never headings or links.

    use std::collections::HashMap;

    /// A section of the documentation: the file (its path from the workspace root) and its
    /// heading line, as written (`"## Quickstart"`).
    pub type Section = (&'static str, &'static str);

    /// Words that start a command in an inline code span (a bare tool name, such as `sam
    /// local`, is a mention of the tool and is covered by the blocks that use it).
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
        "npx ",
        "apt-get ",
        "rustup ",
        "sam build",
        "sam validate",
        "sam deploy",
    ];

    fn is_fence(line: &str) -> bool {
        line.trim_start().starts_with("```")
    }

    /// The level of a heading line (`## x` is 2), or none; the caller knows it is outside a
    /// fenced block.
    fn heading_level(line: &str) -> Option<usize> {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        (hashes > 0 && line[hashes..].starts_with(' ')).then_some(hashes)
    }

    /// Each line, with whether it is outside fenced blocks (the fences themselves are not).
    fn lines_outside_fences(text: &str) -> impl Iterator<Item = (&str, bool)> {
        let mut in_block = false;
        text.lines().map(move |line| {
            if is_fence(line) {
                in_block = !in_block;
                (line, false)
            } else {
                (line, !in_block)
            }
        })
    }

    /// The headings of `text`, with their level, each line as written (trailing space aside).
    pub fn headings(text: &str) -> impl Iterator<Item = (usize, &str)> {
        lines_outside_fences(text)
            .filter(|(_, outside)| *outside)
            .filter_map(|(line, _)| heading_level(line).map(|level| (level, line.trim_end())))
    }

    /// The info string of every fenced block's opening fence (`sh`, `mermaid`, or empty).
    pub fn fences(text: &str) -> impl Iterator<Item = &str> {
        let mut in_block = false;
        text.lines().filter(|line| is_fence(line)).filter_map(move |line| {
            in_block = !in_block;
            in_block.then(|| line.trim().trim_start_matches('`').trim())
        })
    }

    /// Each section of `text` with its ```sh blocks, in order: its heading line, and the blocks
    /// up to the next heading of any level. What comes before the first heading is under `""`.
    pub fn sections(text: &str) -> Vec<(&str, Vec<String>)> {
        let mut sections = vec![("", Vec::new())];
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if is_fence(line) {
                let block: Vec<&str> = lines.by_ref().take_while(|l| !is_fence(l)).collect();
                if line.trim() == "```sh" {
                    sections.last_mut().unwrap().1.push(block.join("\n"));
                }
            } else if heading_level(line).is_some() {
                sections.push((line.trim_end(), Vec::new()));
            }
        }
        sections
    }

    /// The ```sh blocks under `heading` (its first occurrence), up to the next heading of any
    /// level.
    pub fn sh_blocks(text: &str, heading: &str) -> Vec<String> {
        sections(text)
            .into_iter()
            .find(|(h, _)| *h == heading)
            .map(|(_, blocks)| blocks)
            .unwrap_or_default()
    }

    /// The text of `text` outside fenced blocks and, with `in_aws`, outside the sections of
    /// `aws_sections` in `file` (each with every section under it, to the next heading of its
    /// level or above).
    fn prose(file: &str, text: &str, aws_sections: &[Section]) -> String {
        let mut out = String::new();
        let mut aws_level: Option<usize> = None;
        for (line, outside) in lines_outside_fences(text) {
            if !outside {
                continue;
            }
            if let Some(level) = heading_level(line) {
                if aws_level.is_some_and(|aws| level <= aws) {
                    aws_level = None;
                }
                if aws_level.is_none() && aws_sections.iter().any(|s| *s == (file, line.trim_end())) {
                    aws_level = Some(level);
                }
            }
            if aws_level.is_none() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Every inline code span of `file` that is a command, whitespace (line breaks)
    /// collapsed, outside the sections of `aws_sections`.
    pub fn inline_commands(file: &str, text: &str, aws_sections: &[Section]) -> Vec<String> {
        prose(file, text, aws_sections)
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

    /// The target of every link and image outside code (fenced blocks and inline spans),
    /// `[text](target "title")` and `[label]: target`, without its title.
    pub fn link_targets(text: &str) -> Vec<String> {
        let prose = prose("", text, &[]);
        let outside_spans: String = prose.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut targets = Vec::new();
        let mut rest = outside_spans.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.extend(rest[..end].split_whitespace().next().map(str::to_owned));
        }
        for line in outside_spans.lines() {
            let line = line.trim_start();
            if let Some((label, target)) = line.strip_prefix('[').and_then(|l| l.split_once("]:"))
                && !label.contains(']')
            {
                targets.extend(target.split_whitespace().next().map(str::to_owned));
            }
        }
        targets
    }

    /// The anchors GitHub gives the headings of `text`, in order: the heading's text lowercased,
    /// every character but letters, digits, `-`, `_` and spaces dropped (code spans' backticks
    /// with them), spaces made `-`; a repeated one gets `-1`, `-2`, ... A heading holding a
    /// link or emphasis would differ (GitHub reads its rendered text); none does here.
    pub fn anchors(text: &str) -> Vec<String> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        headings(text)
            .map(|(level, line)| {
                let slug: String = line[level..]
                    .trim()
                    .to_lowercase()
                    .chars()
                    .filter_map(|c| match c {
                        ' ' => Some('-'),
                        '-' | '_' => Some(c),
                        c if c.is_alphanumeric() => Some(c),
                        _ => None,
                    })
                    .collect();
                let times = seen.entry(slug.clone()).or_insert(0);
                let anchor = if *times == 0 { slug } else { format!("{slug}-{times}") };
                *times += 1;
                anchor
            })
            .collect()
    }
}

#[test]
fn finds_the_sections_blocks() {
    let text = "# t\n## A\n```sh\na 1\na 2\n```\n### A.1\n```sh\nb\n```\n## B\n```sh\nc\n```\n";
    assert_eq!(sh_blocks(text, "## A"), ["a 1\na 2"]);
    assert_eq!(sh_blocks(text, "### A.1"), ["b"]);
    assert_eq!(sh_blocks(text, "## B"), ["c"]);
    assert!(sh_blocks(text, "## C").is_empty());
    // A `# comment` in a block is neither a heading nor the end of a section, and a block of
    // another language is not a ```sh block.
    let text = "## A\n```\n## A\n```\n```sh\n# once\nx\n```\n```mermaid\ny\n```\n## B\n";
    assert_eq!(sh_blocks(text, "## A"), ["# once\nx"]);
    assert_eq!(
        sections(text),
        [("", vec![]), ("## A", vec!["# once\nx".to_owned()]), ("## B", vec![])]
    );
    assert_eq!(headings(text).collect::<Vec<_>>(), [(2, "## A"), (2, "## B")]);
    assert_eq!(markdown::fences(text).collect::<Vec<_>>(), ["", "sh", "mermaid"]);
}

#[test]
fn sections_are_told_apart_by_file() {
    let docs = Docs(vec![
        ("README.md".into(), "# R\n## A\n```sh\nr\n```\n".into()),
        ("docs/a.md".into(), "# Ops\n## A\n```sh\nd\n```\n".into()),
    ]);
    assert_eq!(docs.sh_blocks(("README.md", "## A")), ["r"]);
    assert_eq!(docs.sh_blocks(("docs/a.md", "## A")), ["d"]);

    // An AWS section spans the sections under it, to the next heading of its level or above,
    // and only in its own file.
    let text = "# Ops\n`aws a`\n## Sub\n`aws b`\n# Next\n`aws c`\n";
    let aws: &[Section] = &[("docs/a.md", "# Ops")];
    assert_eq!(inline_commands("docs/a.md", text, aws), ["aws c"]);
    assert_eq!(inline_commands("README.md", text, aws), ["aws a", "aws b", "aws c"]);
    let aws: &[Section] = &[("docs/a.md", "## Sub")];
    assert_eq!(inline_commands("docs/a.md", text, aws), ["aws a", "aws c"]);
}

#[test]
fn reads_links_and_anchors_as_github_does() {
    let text = "# User-signup: a `sam local` test, v2\n## Notes\n## Notes\n```sh\n# not a heading\n```\n\
                See [a](docs/a.md#b), ![i](../c.svg \"t\") and [`d.md`](d.md); `[no](code.md)`,\n\
                [web](https://x.y).\n```\n[no](block.md)\n```\n[label]: ref.md\n";
    assert_eq!(anchors(text), ["user-signup-a-sam-local-test-v2", "notes", "notes-1"]);
    assert_eq!(
        link_targets(text),
        ["docs/a.md#b", "../c.svg", "d.md", "https://x.y", "ref.md"]
    );

    let root = root();
    assert_eq!(
        link_leads_somewhere(&root, "docs/x.md", "../README.md#quickstart"),
        Ok(())
    );
    assert_eq!(link_leads_somewhere(&root, "README.md", "#quickstart"), Ok(()));
    assert_eq!(link_leads_somewhere(&root, "README.md", "xtask/src"), Ok(()));
    assert!(link_leads_somewhere(&root, "README.md", "#no-such-heading").is_err());
    assert!(link_leads_somewhere(&root, "README.md", "no-such-file.md").is_err());
    assert!(link_leads_somewhere(&root, "README.md", "template.yaml#L1").is_err());
    assert!(link_leads_somewhere(&root, "docs/x.md", "../../README.md").is_err());
}
