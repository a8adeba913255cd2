//! Sessions: the tokens a login or refresh hands out and what they carry.
//!
//! - `issue`: a session's next refresh token and access token, signed and
//!   paired as Login and Refresh answer.
//! - `secret`: opaque refresh tokens and client secrets, their stored
//!   hashes, grace sealing.
//! - [`grants`]: which scopes roles grant in user tokens, and what service
//!   tokens carry.
//! - `introspection`: RFC 7662 verdicts from the verifier and denylist.
//! - `exchange`: token exchange (RFC 8693): a user's token for a service
//!   acting on the user's behalf.

pub(crate) mod exchange;
pub mod grants;
pub(crate) mod introspection;
pub(crate) mod issue;
pub(crate) mod secret;
