//! `.local/stack.env`: the stack's coordinates as a dotenv file that cargo lambda
//! (`--env-file`), the tests, `aws`/`awslocal` and a shell (`set -a; . .local/stack.env`) read.

use anyhow::{Context, Result, bail};
use std::path::Path;

pub fn write(path: &Path, header: &str, entries: &[(String, String)]) -> Result<()> {
    let mut text = String::new();
    for line in header.lines() {
        text.push_str(&format!("# {line}\n"));
    }
    for (key, value) in entries {
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

pub fn read(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse(&text))
}

pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

/// The value of one key.
pub fn get<'a>(entries: &'a [(String, String)], key: &str) -> Option<&'a str> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A running stack's `stack.env`, for the commands that use the stack.
pub struct StackEnv(Vec<(String, String)>);

impl StackEnv {
    pub fn load(layout: &crate::layout::Layout) -> Result<Self> {
        Ok(Self(
            read(&layout.stack_env()).context("no stack.env: run `cargo xtask up` first")?,
        ))
    }

    pub fn entries(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn var(&self, key: &str) -> Result<String> {
        get(&self.0, key)
            .map(str::to_owned)
            .with_context(|| format!("{key} missing from stack.env"))
    }

    /// The port of a URL-valued variable.
    pub fn port(&self, key: &str) -> Result<u16> {
        let url = self.var(key)?;
        url.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("{key}={url} has no port"))
    }

    pub fn endpoints(&self) -> Result<crate::provision::Endpoints> {
        Ok(crate::provision::Endpoints {
            localstack: self.var("AWS_ENDPOINT_URL")?,
            dynamodb: self.var("AWS_ENDPOINT_URL_DYNAMODB")?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("xtask-env-{}", std::process::id()));
        let path = dir.join("stack.env");
        let entries = vec![("A".to_string(), "http://127.0.0.1:1/x".to_string())];
        super::write(&path, "written by a test", &entries).unwrap();
        assert_eq!(super::read(&path).unwrap(), entries);
        assert!(super::write(&path, "", &[("B".into(), "a b".into())]).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
