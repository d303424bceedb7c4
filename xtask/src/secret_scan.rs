//! The secret scan: the functions' logs must hold no test password, no bcrypt hash, no JWT (at
//! any level), and no email address at INFO or above. `cargo xtask test` runs it on the suite's
//! stack after the tests, the benchmark on its own stack after measuring.

use crate::layout::Layout;
use crate::local::{provision, services};
use anyhow::{Result, bail};

/// The tests send passwords with a horse in them ("correct horse...", the right ones; "wrong
/// horse", "another horse", the refused ones) through the functions; their
/// logs (cargo lambda watch's, with every function's output, and the bridge's) must show no
/// password, no bcrypt hash and no JWT.
pub fn no_secrets_in_logs(layout: &Layout) -> Result<()> {
    let logs: Vec<_> = [services::WATCH, services::BRIDGE]
        .iter()
        .map(|log| layout.service_log(log))
        .collect();
    no_secrets_in(&logs)
}

/// Fails naming every line of `logs` that holds a test password, a bcrypt hash or a JWT (at
/// any level), or an email address at INFO or above (personal data: the user id is enough).
pub fn no_secrets_in(logs: &[std::path::PathBuf]) -> Result<()> {
    let mut leaks = Vec::new();
    for path in logs {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if let Some(what) = secret_in(line).or_else(|| email_at_info_or_above(line)) {
                leaks.push(format!("{}:{}: {what}", path.display(), n + 1));
            }
        }
    }
    if !leaks.is_empty() {
        bail!("secrets in the functions' logs:\n{}", leaks.join("\n"));
    }
    eprintln!("==> no password, hash, token, nor an email address at INFO or above, in the functions' logs");
    Ok(())
}

/// A function's log line (tracing's text format, `LEVEL message fields`, possibly coloured)
/// at INFO, WARN or ERROR that holds an email address other than our own sender's.
fn email_at_info_or_above(line: &str) -> Option<&'static str> {
    let plain = strip_ansi(line);
    let level = plain.split_whitespace().next().unwrap_or_default();
    if !matches!(level, "INFO" | "WARN" | "ERROR") {
        return None;
    }
    let address = plain
        .split(|c: char| c.is_whitespace() || "\"'=,;:()[]{}<>".contains(c))
        .any(|word| {
            let Some((local, domain)) = word.split_once('@') else {
                return false;
            };
            !local.is_empty() && domain.contains('.') && word != provision::DEFAULT_EMAIL_FROM
        });
    address.then_some("an email address at INFO or above")
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn secret_in(line: &str) -> Option<&'static str> {
    let bcrypt = ["$2a$", "$2b$", "$2y$"].iter().any(|p| line.contains(p));
    // A JWT is base64url JSON: header and claims both start with `eyJ` (`{"`).
    let jwt = line
        .match_indices("eyJ")
        .any(|(i, _)| line[i..].split('.').take(2).all(|part| part.starts_with("eyJ")));
    if line.contains(" horse") {
        Some("a test password")
    } else if bcrypt {
        Some("a bcrypt hash")
    } else if jwt {
        Some("a JWT")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn recognises_passwords_hashes_and_tokens() {
        assert!(super::secret_in("password=correct horse battery").is_some());
        assert!(super::secret_in(r#"{"password":"wrong horse"}"#).is_some());
        assert!(super::secret_in("hash $2b$12$abcdefghijklmnopqrstuv").is_some());
        assert!(super::secret_in("token eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx.sig").is_some());
        assert!(super::secret_in("create-user status=201 latency_ms=3.1 request_id=\"abc\"").is_none());
    }

    #[test]
    fn recognises_email_addresses_at_info_and_above_only() {
        let coloured = "\u{1b}[32m INFO\u{1b}[0m welcome email sent to=\"ann@example.io\"";
        assert!(super::email_at_info_or_above(coloured).is_some());
        assert!(super::email_at_info_or_above("WARN delivery failed: Ann.X@Example.io not verified").is_some());
        assert!(super::email_at_info_or_above("DEBUG claim for ann@example.io").is_none());
        assert!(super::email_at_info_or_above("INFO user created user_id=1b4e").is_none());
        assert!(super::email_at_info_or_above("INFO sending from welcome@example.com").is_none());
    }
}
