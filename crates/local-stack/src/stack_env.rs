//! `stack.env`: the stack's coordinates as a dotenv file that cargo lambda (`--env-file`), the
//! tests, `aws`/`awslocal` and a shell (`set -a; . .local/stack.env`) read.

use crate::Endpoints;
use anyhow::{Context, Result, bail};
use std::path::Path;

/// A stack's coordinates, in the order they were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackEnv(Vec<(String, String)>);

impl StackEnv {
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Self(entries)
    }

    /// Reads a `stack.env`; a missing file names the command that writes it.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading {}: run `cargo xtask up` first", path.display()))?;
        Ok(Self::parse(&text))
    }

    /// Dotenv lines `KEY=value`; blank lines and `#` comments skipped, a value's surrounding
    /// double quotes dropped (what cargo lambda and a shell make of the same file).
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .filter_map(|line| line.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                .collect(),
        )
    }

    /// Writes the file with `header` as comments. A value that a shell or dotenv reader would
    /// need quoted is refused rather than quoted: every reader then sees the same text.
    pub fn write(&self, path: &Path, header: &str) -> Result<()> {
        let mut text = String::new();
        for line in header.lines() {
            text.push_str(&format!("# {line}\n"));
        }
        for (key, value) in &self.0 {
            if value.contains(|c: char| c.is_whitespace() || "\"'$`\\#".contains(c)) {
                bail!("{key}={value:?} would need quoting in a dotenv file");
            }
            text.push_str(&format!("{key}={value}\n"));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// For each key of the file that the process environment also sets, the environment's value:
    /// `cargo xtask test` sets a stack's coordinates so that the tests use that stack.
    pub fn overridden_by_process_env(mut self) -> Self {
        for (key, value) in &mut self.0 {
            if let Ok(from_env) = std::env::var(&*key) {
                *value = from_env;
            }
        }
        self
    }

    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        self.0.push((key.to_owned(), value.into()));
    }

    pub fn entries(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of one key; the last one written wins, as in a shell.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of one key the stack must have.
    pub fn var(&self, key: &str) -> Result<String> {
        self.get(key)
            .map(str::to_owned)
            .with_context(|| format!("{key} missing from stack.env"))
    }

    /// The port of a URL-valued variable.
    pub fn port(&self, key: &str) -> Result<u16> {
        let url = self.var(key)?;
        url.trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("{key}={url} has no port"))
    }

    pub fn endpoints(&self) -> Result<Endpoints> {
        Ok(Endpoints {
            localstack: self.var("AWS_ENDPOINT_URL")?,
            dynamodb: self.var("AWS_ENDPOINT_URL_DYNAMODB")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("local-stack-env-{}", std::process::id()));
        let path = dir.join("stack.env");
        let env = StackEnv::new(vec![("A".into(), "http://127.0.0.1:1".into())]);
        env.write(&path, "written by a test").unwrap();
        assert_eq!(StackEnv::read(&path).unwrap(), env);
        assert_eq!(env.port("A").unwrap(), 1);
        let spaced = StackEnv::new(vec![("B".into(), "a b".into())]);
        assert!(spaced.write(&path, "").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn parses_what_a_shell_reads() {
        let env = StackEnv::parse("# header\n\n  A = 1 \nB=\"two\"\nnot a pair\nA=3\n");
        assert_eq!(env.entries().len(), 3);
        assert_eq!(env.get("B"), Some("two"));
        assert_eq!(env.get("A"), Some("3"), "the last assignment wins");
    }
}
