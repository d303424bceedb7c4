//! create-user's routes, `POST /users` (a sign-up) and `POST /users/verification` (a resend),
//! read from whatever event invoked it ([`lambda_support::http`]), and the one answer both give
//! to every valid request.

use aws_lambda_events::http::{Method, header};
use lambda_support::http::{ErrorCode, Invocation, Reply, json_body};
use serde_json::{Value, json};

/// The routes, as the template's HTTP API declares them.
pub const SIGN_UP_PATH: &str = "/users";
pub const RESEND_PATH: &str = "/users/verification";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    SignUp,
    Resend,
}

impl Route {
    /// For the request's log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::SignUp => "sign_up",
            Route::Resend => "resend",
        }
    }
}

/// A request routed: its JSON body, still to validate, and the client's address.
#[derive(Debug)]
pub struct Routed {
    pub route: Route,
    pub body: Value,
    /// None for a direct invoke (an IAM-authorised caller, not counted per client).
    pub source_ip: Option<String>,
}

/// Routes an invocation: a direct invoke is a sign-up whose payload is the body.
pub fn route(invocation: Invocation) -> Result<Routed, Reply> {
    let request = match invocation {
        Invocation::Direct(body) => {
            return Ok(Routed {
                route: Route::SignUp,
                body,
                source_ip: None,
            });
        }
        Invocation::Http(request) => request,
    };
    let (route, fields) = if request.is(SIGN_UP_PATH) {
        (Route::SignUp, "name, email and password")
    } else if request.is(RESEND_PATH) {
        (Route::Resend, "email")
    } else {
        return Err(Reply::error(
            ErrorCode::NotFound,
            "no such route; sign up with POST /users, ask for the email again with POST /users/verification",
        ));
    };
    request.allow(&[Method::POST])?;
    let body = json_body(&request, fields)?;
    Ok(Routed {
        route,
        body,
        source_ip: request.source_ip,
    })
}

/// The answer to every valid sign-up and resend, whatever the address: new, pending, verified
/// or unknown, byte for byte, headers included. Nothing in it says which: no user, no id, no
/// token.
pub fn accepted() -> Reply {
    Reply::new(
        202,
        json!({
            "status": "accepted",
            "message": "If this address can be used, a message is on its way to it: follow it to continue."
        }),
    )
    .with_header(header::CACHE_CONTROL, "no-store".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_support::http::{EventShape, read_event};

    fn routed(event: Value) -> Result<(Route, Value), u16> {
        let (_, invocation) = read_event(event);
        invocation
            .and_then(route)
            .map(|r| (r.route, r.body))
            .map_err(|r| r.status)
    }

    fn post(path: &str, body: &str) -> Value {
        lambda_support::testing::HttpApiRequest {
            path,
            body: Some(body.to_owned()),
            ..Default::default()
        }
        .event()
    }

    #[test]
    fn two_routes_both_post() {
        assert_eq!(routed(post("/users", "{}")), Ok((Route::SignUp, json!({}))));
        assert_eq!(
            routed(post("/users/verification", "{}")),
            Ok((Route::Resend, json!({})))
        );
        assert_eq!(
            routed(post("/prod/users/verification/", "{}")),
            Ok((Route::Resend, json!({})))
        );
        assert_eq!(routed(post("/users/verify", "{}")), Err(404), "verify-email's");
        assert_eq!(routed(post("/users/123", "{}")), Err(404));
        let get = lambda_support::testing::HttpApiRequest {
            method: "GET",
            path: "/users",
            ..Default::default()
        };
        assert_eq!(routed(get.event()), Err(405));
        assert_eq!(
            routed(json!({"email": "a@b.io"})),
            Ok((Route::SignUp, json!({"email": "a@b.io"})))
        );
    }

    #[test]
    fn the_answer_is_one_fixed_202_that_no_cache_keeps() {
        let a = lambda_support::http::render(accepted(), EventShape::HttpApiV2);
        assert_eq!(a, lambda_support::http::render(accepted(), EventShape::HttpApiV2));
        assert_eq!(a["statusCode"], 202);
        assert_eq!(a["headers"]["cache-control"], "no-store");
    }

    #[test]
    fn the_sample_events_are_valid_sign_ups() {
        let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        for (file, shape) in [
            ("create-user.json", EventShape::HttpApiV2),
            ("create-user-direct.json", EventShape::Direct),
        ] {
            let event: Value = serde_json::from_str(&std::fs::read_to_string(events.join(file)).unwrap()).unwrap();
            let (got, invocation) = read_event(event);
            assert_eq!(got, shape, "{file}");
            let routed = invocation.and_then(route).unwrap_or_else(|r| panic!("{file}: {r:?}"));
            assert_eq!(routed.route, Route::SignUp);
            assert!(crate::domain::validation::validate(&routed.body).is_ok(), "{file}");
        }
    }

    #[test]
    fn aws_fixture_events_get_json_errors() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/aws");
        let cases = [
            ("example-apigw-v2-request-no-authorizer.json", [404, 405].as_slice()),
            ("example-apigw-sam-http-request.json", &[404, 405]),
            ("example-apigw-request.json", &[400, 404]),
        ];
        for (file, allowed) in cases {
            let Ok(text) = std::fs::read_to_string(fixtures.join(file)) else {
                panic!("fixture {file} missing from {}", fixtures.display())
            };
            let (_, invocation) = read_event(serde_json::from_str(&text).unwrap());
            let reply = invocation.and_then(route).expect_err(file);
            assert!(allowed.contains(&reply.status), "{file}: {}", reply.status);
            assert!(reply.json().unwrap()["error"].is_string());
        }
    }
}
