//! Randomness for names that must not collide (a demo's email, a test's queue) and for the
//! stack's JWT secret.

use anyhow::{Result, anyhow};

/// `bytes` random bytes from the OS's generator (`getrandom`, already in the build under
/// `uuid`), hex-encoded.
pub fn hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow!("the OS's random generator: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
