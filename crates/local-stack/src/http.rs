//! The HTTP client for the stack's loopback services: LocalStack's own endpoints, cargo lambda
//! watch, the bench's runtime API.

/// A client for `http://127.0.0.1:<port>`. It never goes through a proxy: the user's
/// `HTTP_PROXY`/`ALL_PROXY` are for the outside world, and a proxy would not reach this
/// machine's loopback (or would answer for it). No overall timeout: callers set one per request
/// (`RequestBuilder::timeout`), as what is reasonable ranges from 3 s (is it up?) to half an
/// hour (a first invocation compiles the function).
///
/// Clone it to share its connections. Each runtime needs its own: a client's pooled connections
/// belong to the runtime they were opened on.
///
/// # Panics
///
/// As `reqwest::Client::new` does, if the system's resolver configuration cannot be loaded.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client (the system's resolver configuration loads)")
}
