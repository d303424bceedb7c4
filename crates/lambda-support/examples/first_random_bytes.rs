//! How long AWS-LC takes to give a new process its first random bytes: what the first TLS
//! handshake of a function waits for, at init on AWS (locally the emulators speak plain HTTP,
//! so the benchmark's init figures never include it). Prints the first call and a second one.
//!
//!     cargo run --release -p lambda-support --example first_random_bytes
//!     AWS_LC_SYS_NO_JITTER_ENTROPY=0 cargo run --release -p lambda-support \
//!         --example first_random_bytes --target-dir target/jitter   # with jitter entropy
//!
//! See `.cargo/config.toml` for why the project builds AWS-LC without jitter entropy.

use std::time::Instant;

fn main() {
    let mut bytes = [0u8; 32];
    let started = Instant::now();
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    let first = started.elapsed();
    let started = Instant::now();
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    let second = started.elapsed();
    println!(
        "first random bytes: {:.3} ms, the next: {:.3} ms",
        first.as_secs_f64() * 1e3,
        second.as_secs_f64() * 1e3
    );
}
