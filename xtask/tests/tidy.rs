//! The codebase's conventions, held by test (rust-analyzer's `tidy` idea): each rule here was
//! once broken somewhere and mended, and a rule that only lives in a review is broken again.
//! Every failure names every file that breaks the rule and says what to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xtask::layout::Layout;

/// The workspace's Rust sources: the shared crates, the functions, xtask.
fn sources() -> Vec<(PathBuf, String)> {
    let root = Layout::workspace_root();
    let mut files = Vec::new();
    for dir in ["crates", "functions", "xtask"] {
        collect(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 50,
        "found only {} source files under {}",
        files.len(),
        root.display()
    );
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(&root).unwrap().to_owned(), text)
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            // Build outputs are not sources.
            if name != "target" && !name.starts_with('.') {
                collect(&path, files);
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
}

/// A test file: under a `tests/` directory, or a module named `tests`.
fn is_test(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "tests") || path.file_stem().is_some_and(|s| s == "tests")
}

/// The lines of `text` before its trailing unit tests (`#[cfg(test)]` then `mod ...`).
fn lines_before_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .position(|w| w[0] == "#[cfg(test)]" && w[1].starts_with("mod ") && w[1].ends_with('{'))
        .unwrap_or(lines.len())
}

fn fail_listing(rule: &str, offenders: &[String]) {
    assert!(offenders.is_empty(), "{rule}:\n  {}", offenders.join("\n  "));
}

#[test]
fn every_module_opens_with_what_it_is_for() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    fail_listing(
        "these files open without a `//!` line saying what they are for",
        &offenders,
    );
}

/// Lines a source file may have before its unit tests: past this, it has two jobs. Tests and
/// test modules of their own are not counted (a table of cases is long by nature).
const MAX_LINES: usize = 400;

#[test]
fn no_file_holds_more_than_one_jobs_worth_of_code() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(path, _)| !is_test(path))
        .filter_map(|(path, text)| {
            let lines = lines_before_tests(&text);
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines before its tests)", path.display()))
        })
        .collect();
    fail_listing(
        &format!("over {MAX_LINES} lines: split these by job (tests may move to a `tests.rs` beside them)"),
        &offenders,
    );
}

/// A command's file parses its arguments and calls the module that owns the work
/// (rust-analyzer's xtask, cargo-lambda's crate per command): this many lines is plenty.
const MAX_COMMAND_LINES: usize = 80;

#[test]
fn xtask_commands_only_dispatch() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(path, _)| path.starts_with("xtask/src/commands"))
        .filter_map(|(path, text)| {
            let lines = text.lines().count();
            (lines > MAX_COMMAND_LINES).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    fail_listing(
        &format!("command files over {MAX_COMMAND_LINES} lines: move the work into the module that owns it"),
        &offenders,
    );
}

/// Where `unsafe` is allowed, and why. Nowhere else: the functions have no need of it.
const UNSAFE_ALLOWED: &[(&str, &str)] = &[
    (
        "xtask/src/local/process.rs",
        "processes by pid: setsid before exec, getpgid, kill on a group or a pid, geteuid (libc; std has none)",
    ),
    (
        "crates/lambda-support/tests/after_answer.rs",
        "sets AWS_LAMBDA_RUNTIME_API for the runtime under test, in a test binary of its own",
    ),
];

/// The keyword, spelled so that this file does not hold it.
const UNSAFE: &str = concat!("uns", "afe");

#[test]
fn unsafe_only_where_allowed() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(path, _)| !UNSAFE_ALLOWED.iter().any(|(allowed, _)| path == Path::new(allowed)))
        .filter(|(_, text)| {
            text.lines()
                .map(|line| line.split("//").next().unwrap_or_default())
                .any(|code| {
                    [" {", " fn", " impl"]
                        .iter()
                        .any(|after| code.contains(&format!("{UNSAFE}{after}")))
                })
        })
        .map(|(path, _)| path.display().to_string())
        .collect();
    fail_listing(
        "`unsafe` outside UNSAFE_ALLOWED: do without it, or add the file with its reason",
        &offenders,
    );
}

/// The public type names a file defines (`pub struct|enum|trait|type Name`).
fn public_types(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("pub ")?;
            let rest = ["struct ", "enum ", "trait ", "type "]
                .iter()
                .find_map(|kind| rest.strip_prefix(kind))?;
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// One owner per name: a type a shared crate defines is not defined again by a crate that
/// uses it (two `ClaimToken`s once meant two ideas of one claim).
#[test]
fn no_public_type_is_defined_again_outside_its_shared_crate() {
    let mut shared: BTreeMap<String, PathBuf> = BTreeMap::new();
    let sources = sources();
    for (path, text) in sources.iter().filter(|(p, _)| p.starts_with("crates") && !is_test(p)) {
        for name in public_types(text) {
            shared.entry(name).or_insert_with(|| path.clone());
        }
    }
    let offenders: Vec<String> = sources
        .iter()
        .filter(|(p, _)| !p.starts_with("crates") && !is_test(p))
        .flat_map(|(path, text)| {
            public_types(text).into_iter().filter_map(|name| {
                let owner = shared.get(&name)?;
                Some(format!("{name} in {} (defined in {})", path.display(), owner.display()))
            })
        })
        .collect();
    fail_listing(
        "public types defined twice: use the shared crate's, or name the other idea apart",
        &offenders,
    );
}

#[test]
fn the_rules_read_what_they_mean() {
    assert!(is_test(Path::new("functions/create-user/tests/outbox.rs")));
    assert!(is_test(Path::new("functions/create-user/src/handler/tests.rs")));
    assert!(!is_test(Path::new("functions/create-user/src/handler.rs")));
    assert_eq!(lines_before_tests("a\nb\n#[cfg(test)]\nmod tests {\n}\n"), 2);
    assert_eq!(lines_before_tests("a\n#[cfg(test)]\nmod tests;\n"), 3);
    assert_eq!(
        public_types("pub struct A;\n  pub enum B {\npub(crate) struct C;\npub type D<T> = T;\n"),
        ["A", "B", "D"]
    );
}
