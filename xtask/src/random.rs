//! Randomness for names that must not collide (a demo's email, a test's queue) and for the
//! stack's JWT secret.

use anyhow::Result;
use std::io::Read;

/// `bytes` random bytes from the kernel, hex-encoded.
pub fn hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
