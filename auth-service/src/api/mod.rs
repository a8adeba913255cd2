//! The gRPC handlers: `auth` (public: login, refresh, JWKS) and `admin`.

pub mod admin;
pub mod auth;

/// Every login outcome and every refusal is one of these structured events.
/// Never pass a token or a password.
/// `target_user` is the user an admin action changed.
macro_rules! audit {
    ($event:literal, $method:expr, $subject:expr, $reason:expr) => {
        audit!($event, $method, $subject, $reason, "-")
    };
    ($event:literal, $method:expr, $subject:expr, $reason:expr, $target_user:expr) => {
        tracing::info!(
            target: "authpair::audit",
            event = $event,
            method = $method,
            subject = $subject,
            reason = $reason,
            target_user = $target_user,
        )
    };
}
pub(crate) use audit;
