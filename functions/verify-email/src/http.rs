//! verify-email's route, `/users/verify`: GET answers the page, POST takes the token and the
//! sign-up's password (as JSON, or as the page's form posts them). Its pages, and its answers
//! in JSON.

use aws_lambda_events::http::{Method, header};
use lambda_support::http::{ErrorCode, Invocation, Reply, form_body, json_body};
use serde_json::{Value, json};
use tokens::verification::looks_like_a_token;

pub const VERIFY_PATH: &str = "/users/verify";

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// GET: the page with the button, for this token (already checked to look like one, so
    /// that the page can show it).
    Page(String),
    /// POST: verify with this token and password, answering in `Answer`'s form.
    Verify(Proof, Answer),
}

/// What a POST proves the address with: the link's token, and the sign-up's password.
#[derive(PartialEq, Eq)]
pub struct Proof {
    pub token: String,
    pub password: String,
}

/// Neither the token nor the password.
impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Proof { <redacted> }")
    }
}

/// How a POST wants its answer: JSON (an app) or a page (the page's form, a browser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Json,
    Page,
}

/// Routes an invocation: a direct invoke is a POST of its payload, `{"token", "password"}`.
pub fn route(invocation: Invocation) -> Result<Request, Reply> {
    let request = match invocation {
        Invocation::Direct(body) => return proof_of(&body).map(|p| Request::Verify(p, Answer::Json)),
        Invocation::Http(request) => request,
    };
    if !request.is(VERIFY_PATH) {
        return Err(Reply::error(
            ErrorCode::NotFound,
            "no such route; follow the link in the email, or POST /users/verify",
        ));
    }
    request.allow(&[Method::GET, Method::POST])?;
    if request.method == Method::GET {
        let token = request.query.first("token").unwrap_or_default();
        if !looks_like_a_token(token) {
            return Err(invalid_token());
        }
        return Ok(Request::Page(token.to_owned()));
    }
    if request.media_type().as_deref() == Some("application/x-www-form-urlencoded") {
        let fields: Value = form_body(&request)?
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        return proof_of(&fields).map(|p| Request::Verify(p, Answer::Page));
    }
    let body = json_body(&request, "token and password")?;
    proof_of(&body).map(|p| Request::Verify(p, Answer::Json))
}

/// The `token` and `password` of a body that has them and nothing else.
fn proof_of(body: &Value) -> Result<Proof, Reply> {
    let object = body
        .as_object()
        .filter(|o| o.keys().all(|k| k == "token" || k == "password"));
    let Some(object) = object else {
        return Err(invalid_token());
    };
    let Some(Value::String(token)) = object.get("token") else {
        return Err(invalid_token());
    };
    match object.get("password") {
        Some(Value::String(password)) if user_store::passwords::could_be_stored(password) => Ok(Proof {
            token: token.clone(),
            password: password.clone(),
        }),
        _ => Err(Reply::error_with(
            ErrorCode::Validation,
            json!({"fields": {"password": "the password you signed up with: 1-72 bytes, without NUL"}}),
        )),
    }
}

pub fn invalid_token() -> Reply {
    Reply::error(
        ErrorCode::InvalidToken,
        "not a verification token: send {\"token\": \"<the token of the link in the email>\", \"password\": \"<the sign-up's>\"}",
    )
}

/// Not the password of the sign-up the link confirms.
pub fn wrong_password() -> Reply {
    // Never cached, as sign-in's refusal is not: an answer about a password.
    Reply::error(
        ErrorCode::InvalidCredentials,
        "not the password this sign-up chose: the one you signed up with",
    )
    .with_header(header::CACHE_CONTROL, "no-store".into())
}

/// Headers of every page: never cached, never framed (a page in a frame can be clicked for its
/// visitor), no referrer (the page's URL holds the token), nothing loaded, forms posted here
/// only.
fn page_headers(reply: Reply) -> Reply {
    reply
        .with_header(header::CACHE_CONTROL, "no-store".into())
        .with_header(header::REFERRER_POLICY, "no-referrer".into())
        .with_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff".into())
        .with_header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'".into(),
        )
}

fn html(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}</style>\
         </head><body><h1>{title}</h1>{body}</body></html>"
    )
}

/// The page the link opens: the password of the sign-up, and a button that POSTs it with the
/// token to this same address. Opening it changes nothing: mail scanners (Outlook Safe Links,
/// Proofpoint) open every link of a mail, and would use the token up if a GET verified.
/// `token` looks like a token (base64url and dots), so it needs no escaping in the attribute.
pub fn confirm_page(token: &str) -> Reply {
    let body = format!(
        "<p>Enter the password you signed up with to confirm your email address and finish \
         signing up.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" \
         required maxlength=\"72\"></label> \
         <button type=\"submit\">Confirm my address</button></form>"
    );
    page_headers(Reply::html(200, html("Confirm your email address", &body)))
}

/// The page a form POST answers with: done, or why not, in the reply's status. The session is
/// not in it: a page cannot hand it to an app (an app's own page POSTs JSON and gets it).
pub fn result_page(reply: &Reply) -> Reply {
    let (title, text) = match reply.error {
        None => (
            "Address confirmed",
            "Your email address is confirmed. You can sign in now.",
        ),
        Some(ErrorCode::TokenUsed) => (
            "Already confirmed",
            "This address is confirmed already. You can sign in.",
        ),
        Some(ErrorCode::TokenSuperseded) => (
            "Link replaced",
            "A newer sign-up with this address sent a new link: use the one in the latest email.",
        ),
        Some(ErrorCode::TokenExpired) => ("Link expired", "This link has expired. Sign up again to get a new one."),
        Some(ErrorCode::InvalidCredentials) => (
            "Wrong password",
            "That is not the password you signed up with. Go back and try again; if you did not sign up, ignore the email.",
        ),
        Some(ErrorCode::TooManyRequests) => ("Too many tries", "Too many wrong passwords. Try again later."),
        Some(ErrorCode::ServiceUnavailable) => (
            "Try again",
            "We could not confirm your address just now. Try again in a moment.",
        ),
        Some(_) => (
            "Link not valid",
            "This link is not valid. Use the link in the email as it was sent.",
        ),
    };
    let mut page = page_headers(Reply::html(reply.status, html(title, &format!("<p>{text}</p>"))));
    page.error = reply.error;
    // When to try again is the browser's to know too (a 429's, a 503's).
    for (name, value) in &reply.headers {
        if name == header::RETRY_AFTER {
            page = page.with_header(name.clone(), value.clone());
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{open_link, post};
    use lambda_support::http::read_event;

    fn routed(event: Value) -> Result<Request, u16> {
        read_event(event).1.and_then(route).map_err(|r| r.status)
    }

    #[test]
    fn get_is_the_page_and_post_is_the_verification_in_json_or_a_form() {
        let proof = || Proof {
            token: "a.b.c".into(),
            password: "pw".into(),
        };
        assert_eq!(routed(open_link("a.b.c")), Ok(Request::Page("a.b.c".into())));
        assert_eq!(
            routed(post("application/json", r#"{"token":"a.b.c","password":"pw"}"#)),
            Ok(Request::Verify(proof(), Answer::Json))
        );
        assert_eq!(
            routed(post("application/x-www-form-urlencoded", "token=a.b.c&password=pw")),
            Ok(Request::Verify(proof(), Answer::Page))
        );
        assert_eq!(
            routed(serde_json::json!({"token": "a.b.c", "password": "pw"})),
            Ok(Request::Verify(proof(), Answer::Json))
        );
        assert!(!format!("{:?}", proof()).contains("pw"));
    }

    #[test]
    fn what_is_no_token_is_a_typed_400_and_other_routes_and_methods_are_refused() {
        for event in [
            open_link(""),
            open_link("<script>alert(1)</script>"),
            post("application/json", r#"{"token":7,"password":"pw"}"#),
            post("application/json", r#"{"token":"a.b.c","password":"pw","extra":1}"#),
            post("application/json", r#"{}"#),
            post("application/json", r#"{"token":"a.b.c"}"#),
            post("application/json", r#"{"token":"a.b.c","password":""}"#),
            post("application/x-www-form-urlencoded", "token=a&x=1"),
        ] {
            assert_eq!(routed(event), Err(400));
        }
        assert_eq!(routed(post("text/plain", r#"{"token":"a.b.c"}"#)), Err(415));
        assert_eq!(
            routed(post("application/json", r#"{"token":"a","token":"b"}"#)),
            Err(400)
        );
        let mut other = post("application/json", "{}");
        other["rawPath"] = "/users".into();
        other["requestContext"]["http"]["path"] = "/users".into();
        assert_eq!(routed(other), Err(404));
        let mut put = post("application/json", "{}");
        put["requestContext"]["http"]["method"] = "PUT".into();
        assert_eq!(routed(put), Err(405));
    }

    #[test]
    fn the_page_posts_the_token_and_cannot_be_framed_cached_or_referred() {
        let page = confirm_page("a.b.c");
        let lambda_support::http::ReplyBody::Html(html) = &page.body else {
            panic!("a page")
        };
        assert!(
            html.contains("type=\"password\" name=\"password\""),
            "it asks for the password: {html}"
        );
        assert!(
            html.contains("method=\"post\"") && html.contains("value=\"a.b.c\""),
            "{html}"
        );
        let header = |name: header::HeaderName| page.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        assert_eq!(header(header::CACHE_CONTROL).as_deref(), Some("no-store"));
        assert_eq!(header(header::REFERRER_POLICY).as_deref(), Some("no-referrer"));
        assert!(
            header(header::CONTENT_SECURITY_POLICY)
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }

    #[test]
    fn a_refusal_is_never_cached_and_a_page_says_when_to_try_again() {
        let header = |reply: &Reply, name: header::HeaderName| {
            reply.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
        };
        assert_eq!(
            header(&wrong_password(), header::CACHE_CONTROL).as_deref(),
            Some("no-store")
        );
        let limited = Reply::too_many_requests(std::time::Duration::from_secs(90));
        let page = result_page(&limited);
        assert_eq!(page.status, 429);
        assert_eq!(header(&page, header::RETRY_AFTER).as_deref(), Some("90"));
        let unavailable = result_page(&Reply::unavailable("r"));
        assert_eq!(header(&unavailable, header::RETRY_AFTER).as_deref(), Some("1"));
        assert_eq!(header(&result_page(&wrong_password()), header::RETRY_AFTER), None);
    }
}
