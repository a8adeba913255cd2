//! The gRPC handlers: `auth` (public: login, refresh, JWKS) and `admin`.

pub mod admin;
pub mod auth;
// Handlers given up in the middle of a revoking write.
#[cfg(test)]
mod cancellation_tests;

/// Every login outcome and every refusal is one of these structured events.
/// Never pass a token or a password.
/// `object` is what the event concerns: the user an admin changed, the
/// session (refresh family) refreshed.
macro_rules! audit {
    ($event:literal, $method:expr, $subject:expr, $reason:expr) => {
        audit!($event, $method, $subject, $reason, "-")
    };
    ($event:literal, $method:expr, $subject:expr, $reason:expr, $object:expr) => {
        tracing::info!(
            target: "authpair::audit",
            event = $event,
            method = $method,
            subject = $subject,
            reason = $reason,
            object = $object,
        )
    };
}
pub(crate) use audit;
