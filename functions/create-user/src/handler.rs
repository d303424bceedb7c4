//! The Lambda handler: event -> route -> use case -> response; after the response, the work
//! the client does not wait for (the sign-up's publish, or the resend itself), and one log
//! line per request, with where its time went (see [`crate::timing`]). Each request counts its
//! [`metric`]s.

use crate::domain::signup::{Accepted, Outcome, SignUp, SignUpError};
use crate::domain::validation::{ResendRequest, validate, validate_resend};
use crate::http::{self, Route};
use crate::request_line::RequestLine;
use crate::timing;
use lambda_runtime::LambdaEvent;
use lambda_support::http::{ErrorCode, Reply, read_event, render};
use lambda_support::timing::ms;
use serde_json::{Value, json};
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;
use user_events::trace::TraceHeader;
use user_store::limits::{Decision, RateLimiter};
use user_store::outbox::{EventPublisher, StoredEvent};
use user_store::users::{StoreError, UserStore};

/// The metrics a request reports (the `metrics` facade; `lambda_support::metrics` writes them
/// as EMF after each invocation, in `main`).
pub mod metric {
    /// Sign-ups accepted (202).
    pub const SIGN_UPS: &str = "SignUps";
    /// Resends accepted (202).
    pub const RESENDS: &str = "Resends";
    /// Accepted sign-ups by what they did, in the dimension [`OUTCOME`]: `created`, `replaced`
    /// (a pending address signed up again), `owner_notified` (a verified one). Never in an
    /// answer: what an operator may know, a caller may not.
    pub const SIGN_UP_OUTCOMES: &str = "SignUpOutcomes";
    pub const OUTCOME: &str = "Outcome";
    /// bcrypt's time per request that hashed, from the request's timings.
    pub const HASH_TIME: &str = "HashTime";
    /// Refusals and failures, by reason: every API function's.
    pub use lambda_support::http::metric::{
        REASON, REJECTIONS, REJECTIONS_BY_REASON, SERVER_ERRORS, SERVER_ERRORS_BY_REASON,
    };

    /// Units for the recorder; once, at init.
    pub fn describe() {
        use metrics::{Unit, describe_counter, describe_histogram};
        describe_counter!(SIGN_UPS, Unit::Count, "sign-ups accepted");
        describe_counter!(RESENDS, Unit::Count, "resends accepted");
        describe_counter!(SIGN_UP_OUTCOMES, Unit::Count, "sign-ups accepted, by what they did");
        lambda_support::http::metric::describe();
        describe_histogram!(HASH_TIME, Unit::Milliseconds, "bcrypt time per sign-up");
    }
}

/// What one request was, for its log line and its metrics.
struct Answered {
    reply: Reply,
    route: Option<Route>,
    outcome: Option<Outcome>,
    after: After,
}

/// The work after the answer.
enum After {
    /// The event stored with the sign-up's change.
    Publish(StoredEvent),
    /// The resend, all of it: its answer is the same whatever it finds.
    Resend(ResendRequest),
    Nothing,
}

impl Answered {
    fn refused(reply: Reply, route: Option<Route>) -> Self {
        Self {
            reply,
            route,
            outcome: None,
            after: After::Nothing,
        }
    }
}

/// Counts one answered request, by its status and error code. The totals are touched on every
/// request, so that one that moved none still reports them as 0.
fn count(answered: (u16, Option<ErrorCode>, Option<Route>, Option<Outcome>), timings: &timing::Timings) {
    let (status, error, route, outcome) = answered;
    let accepted = |r| u64::from(status == 202 && route == Some(r));
    metrics::counter!(metric::SIGN_UPS).increment(accepted(Route::SignUp));
    metrics::counter!(metric::RESENDS).increment(accepted(Route::Resend));
    lambda_support::http::metric::count(status, error);
    if let Some(outcome) = outcome {
        metrics::counter!(metric::SIGN_UP_OUTCOMES, metric::OUTCOME => outcome.as_str()).increment(1);
    }
    if !timings.hash.is_zero() {
        metrics::histogram!(metric::HASH_TIME).record(ms(timings.hash));
    }
}

/// The answer to `event`, and the rest of the request, which the client does not wait for:
/// publishing the sign-up's event (or doing the resend), then the request's log line and its
/// metrics. `main` runs the rest once the answer is posted (`lambda_support::after_answer`); a
/// sign-up's event is stored by then, and published by the outbox's flush if the rest never
/// runs.
pub async fn handle<'a, S: UserStore + RateLimiter, P: EventPublisher>(
    signup: &'a SignUp<S, P>,
    event: LambdaEvent<Value>,
) -> (Value, impl Future<Output = ()> + 'a) {
    let started = Instant::now();
    let request_id = event.context.request_id;
    let trace = event.context.xray_trace_id.as_deref().and_then(TraceHeader::parse);
    let (shape, invocation) = read_event(event.payload);
    // The ids of the user and its event, once known, on every line logged from then on, the
    // request line included (the invocation's span has the request and trace ids).
    let span = tracing::error_span!("sign_up", user_id = Empty, event_id = Empty);
    let answered = respond(signup, invocation, trace.clone(), &request_id);
    let (answered, answer_timings) = timing::measure(answered).instrument(span.clone()).await;
    let Answered {
        reply,
        route,
        outcome,
        after,
    } = answered;
    let (status, error) = (reply.status, reply.error);
    let answer = render(reply, shape);
    let latency = started.elapsed();
    let rest = async move {
        let (published, after_timings) = timing::measure(async {
            match after {
                After::Publish(event) => Some(signup.publish(&event).await),
                // Its event, if any, is the outbox's flush's to publish (see `SignUp::resend`).
                After::Resend(request) => match signup.resend(&request, trace).await {
                    Ok(_) => None,
                    Err(e) => {
                        // Nothing stored: the client may ask again (its answer said nothing
                        // of whether this address has a pending sign-up to resend).
                        tracing::error!(error = %e, "resend not stored");
                        None
                    }
                },
                After::Nothing => None,
            }
        })
        .await;
        let timings = answer_timings.and(after_timings);
        RequestLine {
            status,
            route: route.map(Route::as_str),
            outcome: outcome.map(Outcome::as_str),
            latency,
            timings,
            published,
        }
        .log();
        count((status, error, route, outcome), &timings);
    };
    (answer, rest.instrument(span))
}

/// The reply to a request, and the work after it.
async fn respond<S: UserStore + RateLimiter, P: EventPublisher>(
    signup: &SignUp<S, P>,
    invocation: Result<lambda_support::http::Invocation, Reply>,
    trace: Option<TraceHeader>,
    request_id: &str,
) -> Answered {
    let routed = match invocation.and_then(http::route) {
        Ok(routed) => routed,
        Err(reply) => return Answered::refused(reply, None),
    };
    let route = Some(routed.route);
    let invalid = |fields| {
        Answered::refused(
            Reply::error_with(ErrorCode::Validation, json!({"fields": fields})),
            route,
        )
    };
    let request = match routed.route {
        Route::SignUp => validate(&routed.body).map(Valid::SignUp),
        Route::Resend => validate_resend(&routed.body).map(Valid::Resend),
    };
    let request = match request {
        Ok(request) => request,
        Err(fields) => return invalid(fields),
    };
    // Valid requests only: each costs a hash or an email, and one client may send so many.
    if let Some(ip) = &routed.source_ip {
        match signup.admit(ip).await {
            Ok(Decision::Allowed) => {}
            Ok(Decision::Denied { retry_after }) => {
                tracing::info!(retry_after_s = retry_after.as_secs(), "over the per-client limit");
                return Answered::refused(Reply::too_many_requests(retry_after), route);
            }
            Err(e) => return Answered::refused(failure(e, request_id), route),
        }
    }
    match request {
        Valid::SignUp(request) => match signup.run(request, trace).await {
            Ok(Accepted {
                outcome,
                user_id,
                event,
            }) => {
                let span = tracing::Span::current();
                span.record("user_id", tracing::field::display(user_id));
                span.record("event_id", tracing::field::display(event.event_id));
                Answered {
                    reply: http::accepted(),
                    route,
                    outcome: Some(outcome),
                    after: After::Publish(event),
                }
            }
            Err(error) => Answered::refused(failure(error, request_id), route),
        },
        Valid::Resend(request) => Answered {
            reply: http::accepted(),
            route,
            outcome: None,
            after: After::Resend(request),
        },
    }
}

enum Valid {
    SignUp(crate::domain::validation::SignUpRequest),
    Resend(ResendRequest),
}

/// Maps a failure to its reply. Server-side failures are logged here, once, with their cause;
/// the client gets the request id to quote, never internals.
fn failure(error: impl Into<SignUpError>, request_id: &str) -> Reply {
    match error.into() {
        SignUpError::Store(cause) => {
            if cause == StoreError::Conflict {
                // Contention on one address, not a fault: the client's retry will settle it.
                tracing::warn!(%cause, "transaction conflicts outlasted the retries");
            } else {
                tracing::error!(%cause, "user store failed");
            }
            // Nothing was written (or, after a timeout, everything was: the retry then
            // replaces the credential it wrote, and answers the same).
            Reply::unavailable(request_id)
        }
        SignUpError::Internal(cause) => {
            tracing::error!(%cause, "internal error");
            Reply::internal(request_id)
        }
    }
}

impl From<StoreError> for SignUpError {
    fn from(e: StoreError) -> Self {
        SignUpError::Store(e)
    }
}

#[cfg(test)]
mod hostile_input;
#[cfg(test)]
mod tests;
