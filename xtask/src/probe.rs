//! Plain HTTP/1.0 on loopback, enough to ask a local service whether it answers and to invoke a
//! function through cargo lambda, without pulling an HTTP client into xtask.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends one request and returns the status code and body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>, timeout: Duration) -> io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    let body = body.unwrap_or_default();
    // One write: `write!` straight to the socket sends each piece as its own segment, and
    // Nagle plus delayed ACKs then add ~40 ms to every request.
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
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
