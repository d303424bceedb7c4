//! The one list of the error codes an API function answers with, each with its status.

/// Why a request was not done: the `error` of the answer's body, with its status. The one list
/// of them, for every function of the HTTP API: the metrics' `Reason` dimension names these
/// words and no others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: the fields broke the rules (`fields` says which, how).
    Validation,
    /// 400: the body is not one JSON object with each key once.
    InvalidJson,
    /// 400: the body is not UTF-8, or not the base64 it is marked as.
    InvalidBody,
    /// 400: the invoking event is no API Gateway event this function reads.
    InvalidEvent,
    /// 400: not a verification token of ours (malformed, empty, tampered with, another key's,
    /// another purpose's).
    InvalidToken,
    /// 401: wrong password, unknown address, or an address not verified yet: one answer for
    /// the three.
    InvalidCredentials,
    /// 409: the verification link was used (the address is verified).
    TokenUsed,
    /// 409: a newer sign-up with the address replaced the one this link confirms.
    TokenSuperseded,
    /// 410: the verification link, or the pending sign-up it confirms, has expired.
    TokenExpired,
    /// 413: the body is over [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES).
    PayloadTooLarge,
    /// 415: not exactly one `Content-Type` the route reads.
    UnsupportedMediaType,
    /// 404: no such route.
    NotFound,
    /// 405: the route has no such method.
    MethodNotAllowed,
    /// 429: this client sent more than its limit; `Retry-After` says when to try again.
    TooManyRequests,
    /// 503, retryable: a dependency failed or timed out (the users table, a signing key).
    ServiceUnavailable,
    /// 500.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::Validation,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidEvent,
        ErrorCode::InvalidToken,
        ErrorCode::InvalidCredentials,
        ErrorCode::TokenUsed,
        ErrorCode::TokenSuperseded,
        ErrorCode::TokenExpired,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::TooManyRequests,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "validation",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidEvent => "invalid_event",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::TokenUsed => "token_used",
            ErrorCode::TokenSuperseded => "token_superseded",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Validation
            | ErrorCode::InvalidJson
            | ErrorCode::InvalidBody
            | ErrorCode::InvalidEvent
            | ErrorCode::InvalidToken => 400,
            ErrorCode::InvalidCredentials => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::TokenUsed | ErrorCode::TokenSuperseded => 409,
            ErrorCode::TokenExpired => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Internal => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }
}
