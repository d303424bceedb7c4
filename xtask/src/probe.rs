//! Plain HTTP/1.0 on loopback, enough to ask a local service whether it answers and to invoke a
//! function through cargo lambda, without pulling an HTTP client into xtask.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Sends one request and returns the status code and body. `timeout` bounds the whole
/// exchange, not each read: an answer that has not fully arrived by then is a `TimedOut`
/// error (the bridge relies on it to enforce a function's Timeout).
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>, timeout: Duration) -> io::Result<(u16, String)> {
    let deadline = Instant::now() + timeout;
    let timed_out = || {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no complete answer within {timeout:?}"),
        )
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout.clamp(Duration::from_millis(1), Duration::from_secs(1)))?;
    stream.set_nodelay(true)?;
    let body = body.unwrap_or_default();
    // One write: `write!` straight to the socket sends each piece as its own segment, and
    // Nagle plus delayed ACKs then add ~40 ms to every request.
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(timed_out());
    }
    stream.set_write_timeout(Some(left))?;
    stream.write_all(request.as_bytes()).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(),
        _ => e,
    })?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(timed_out());
            }
            Err(e) => return Err(e),
        }
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // "HTTP/1.1 200 OK"
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))?;
    Ok((status, body.to_owned()))
}

/// The status code of `GET path`, or None if nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    http(port, "GET", path, None, Duration::from_secs(3))
        .ok()
        .map(|(status, _)| status)
}

/// Every email LocalStack's SES has accepted (`GET /_aws/ses`).
pub fn ses_outbox(localstack_port: u16) -> anyhow::Result<Vec<serde_json::Value>> {
    let (_, body) = http(localstack_port, "GET", "/_aws/ses", None, Duration::from_secs(30))?;
    let mut outbox: serde_json::Value = serde_json::from_str(&body)?;
    Ok(outbox["messages"]
        .as_array_mut()
        .map(std::mem::take)
        .unwrap_or_default())
}

/// The (first) recipient of an email from [`ses_outbox`].
pub fn recipient(email: &serde_json::Value) -> Option<&str> {
    email["Destination"]["ToAddresses"][0].as_str()
}
