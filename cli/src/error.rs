//! What a command fails with, and how it is reported on stderr: the gRPC
//! code, message and `ErrorInfo` reason of a refused call, with a hint for
//! the cases a person can act on.

use std::{error::Error as _, fmt};

use tonic::{Code, Status};

/// A failed command. Every one exits with code 1 (clap's usage errors exit 2).
#[derive(Debug)]
pub enum CliError {
    /// The auth service refused the call.
    Status { status: Status, hint: Option<String> },
    /// Anything else: no session, an unreachable service, a file.
    Other(String),
}

impl CliError {
    pub fn other(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }

    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            Self::Status { status, .. } => Self::Status { status, hint: Some(hint.into()) },
            other => other,
        }
    }

    /// The status's `ErrorInfo` reason (domain authpair), if any.
    pub fn reason(&self) -> Option<String> {
        match self {
            Self::Status { status, .. } => authpair_claims::reason_of(status),
            Self::Other(_) => None,
        }
    }

    /// Writes the error to stderr, as text or as one JSON document.
    pub fn report(&self, json: bool) {
        if json {
            let value = match self {
                Self::Status { status, hint } => serde_json::json!({ "error": {
                    "code": code_name(status.code()),
                    "message": status.message(),
                    "reason": self.reason(),
                    "hint": hint,
                }}),
                Self::Other(message) => serde_json::json!({ "error": { "message": message } }),
            };
            eprintln!("{value}");
        } else {
            eprintln!("{self}");
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { status, hint } => {
                write!(f, "error: {}: {}", code_name(status.code()), status.message())?;
                if let Some(reason) = self.reason() {
                    write!(f, " (reason: {reason})")?;
                }
                if let Some(hint) = hint.clone().or_else(|| default_hint(status)) {
                    write!(f, "\n{hint}")?;
                }
                Ok(())
            }
            Self::Other(message) => write!(f, "error: {message}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<Status> for CliError {
    fn from(status: Status) -> Self {
        Self::Status { status, hint: None }
    }
}

/// A connection failure, with the causes tonic keeps in its source chain.
pub fn transport(url: impl std::fmt::Display, e: tonic::transport::Error) -> CliError {
    let mut message = format!("cannot reach the auth service at {url}: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    CliError::Other(message)
}

fn default_hint(status: &Status) -> Option<String> {
    let reason = authpair_claims::reason_of(status);
    match (status.code(), reason.as_deref(), status.message()) {
        (Code::Unauthenticated, _, "wrong token audience") => Some(
            "hint: admin commands need a session for the admin audience (--admin-audience): authpair login USER".into(),
        ),
        (Code::Unauthenticated, Some("TOKEN_REVOKED"), _) => {
            Some("hint: this session was revoked; log in again: authpair login USER".into())
        }
        (Code::PermissionDenied, Some("ROLE_REQUIRED" | "SCOPE_REQUIRED"), _) => {
            Some("hint: the logged-in user lacks what this call needs; an admin can grant it".into())
        }
        _ => None,
    }
}

/// The canonical name of a gRPC code, as in the gRPC spec and grpcurl's docs.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_call_shows_code_message_and_hint() {
        let error = CliError::from(Status::not_found("user not found"));
        assert_eq!(error.to_string(), "error: NOT_FOUND: user not found");
        let error = error.with_hint("hint: check the name");
        assert_eq!(error.to_string(), "error: NOT_FOUND: user not found\nhint: check the name");
    }
}
