//! The payload 2.0 event of a request, as API Gateway builds it (what it keeps of the
//! request's bytes is in [`super`]'s doc), through the one builder of HTTP API events,
//! [`HttpApiRequest`].

use super::route::Route;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_support::testing::HttpApiRequest;
use serde_json::Value;
use std::net::SocketAddr;

/// A request as it came, for its event.
pub(super) struct Received<'a> {
    pub parts: &'a hyper::http::request::Parts,
    pub body: &'a [u8],
    pub peer: SocketAddr,
    pub request_id: &'a str,
}

impl Received<'_> {
    /// The payload 2.0 event API Gateway sends for this request on `route`.
    pub fn event(&self, route: &Route, path_parameters: &[(String, String)]) -> Value {
        let source_ip = self.peer.ip().to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut cookies: Vec<String> = Vec::new();
        for name in self.parts.headers.keys() {
            let values = self
                .parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| header_text(v.as_bytes()));
            if name == "cookie" {
                let each = values.flat_map(|v| v.split(';').map(|c| c.trim().to_owned()).collect::<Vec<_>>());
                cookies.extend(each.filter(|c| !c.is_empty()));
            } else {
                headers.push((name.as_str().to_owned(), values.collect::<Vec<_>>().join(",")));
            }
        }
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let forwarded_for = header("x-forwarded-for").map_or(source_ip.clone(), |v| format!("{v}, {source_ip}"));
        let user_agent = header("user-agent").unwrap_or_default();
        let text = header("content-type").is_some_and(|ct| is_text(&ct));
        headers.retain(|(name, _)| name != "x-forwarded-for");
        headers.push(("x-forwarded-for".into(), forwarded_for));
        headers.push(("x-forwarded-proto".into(), "http".into()));
        let (body, base64) = match std::str::from_utf8(self.body) {
            _ if self.body.is_empty() => (None, false),
            Ok(utf8) if text => (Some(utf8.to_owned()), false),
            _ => (Some(STANDARD.encode(self.body)), true),
        };
        let now = time::OffsetDateTime::now_utc();
        HttpApiRequest {
            method: self.parts.method.as_str(),
            path: self.parts.uri.path(),
            route_key: &route.key,
            content_type: None,
            headers: &headers,
            cookies: &cookies,
            path_parameters,
            body,
            base64,
            query: self.parts.uri.query().unwrap_or_default(),
            source_ip: &source_ip,
            user_agent: &user_agent,
            request_id: self.request_id,
            time_epoch_ms: (now.unix_timestamp_nanos() / 1_000_000) as u64,
            time: &gateway_time(now),
        }
        .event()
    }
}

/// Whether API Gateway passes a body of this `Content-Type` as text (see the module doc).
fn is_text(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || ["application/json", "application/xml", "application/javascript"].contains(&essence.as_str())
}

/// A header value's bytes as text: UTF-8 if they are, else ISO-8859-1 (see the module doc).
fn header_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A request id of API Gateway's form: 16 base64 characters (`JKJaXmPLvHcESHA=`).
pub(super) fn request_id() -> String {
    let mut bytes = [0u8; 11];
    // The OS's generator failing leaves zeros: an id, if not a unique one.
    let _ = getrandom::fill(&mut bytes);
    STANDARD.encode(bytes)
}

/// `12/Mar/2020:19:03:58 +0000`: `requestContext.time`, as API Gateway writes it.
fn gateway_time(t: time::OffsetDateTime) -> String {
    let month = t.month().to_string();
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day(),
        &month[..3],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_headers_reach_the_function_as_api_gateway_passes_them() {
        for (content_type, text) in [
            ("application/json; charset=utf-8", true),
            ("text/html", true),
            ("Application/XML", true),
            ("application/x-www-form-urlencoded", false),
            ("application/vnd.api+json", false),
            ("application/octet-stream", false),
        ] {
            assert_eq!(is_text(content_type), text, "{content_type}");
        }
        assert_eq!(header_text("Zoë".as_bytes()), "Zoë");
        assert_eq!(header_text(b"Beno\xeet"), "Benoît");
        let t = time::Date::from_calendar_date(2020, time::Month::March, 5)
            .unwrap()
            .with_hms(19, 3, 58)
            .unwrap()
            .assume_utc();
        assert_eq!(gateway_time(t), "05/Mar/2020:19:03:58 +0000");
    }
}
