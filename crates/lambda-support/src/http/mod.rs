//! The HTTP edge every API function shares: whatever event invoked the function (HTTP API v2 /
//! function URL, REST API v1 proxy, or a direct invoke with the JSON body itself) read into one
//! [`Invocation`], the body read strictly ([`json_body`]: size, media type, encoding, no key
//! twice), and a [`Reply`] written back in the shape that event expects. The error codes of
//! every answer are [`ErrorCode`]'s: the one list of them.
//!
//! One file a job: `event` reads the invoking event, `body` the request's body, `reply` writes
//! the answer, `error_code` lists the codes and [`metric`] counts them.

mod body;
mod error_code;
mod event;
pub mod metric;
mod reply;

pub use body::{MAX_BODY_BYTES, form_body, json_body};
pub use error_code::ErrorCode;
pub use event::{EventShape, HttpRequest, Invocation, read_event};
pub use reply::{Reply, ReplyBody, render};

#[cfg(test)]
mod tests;
