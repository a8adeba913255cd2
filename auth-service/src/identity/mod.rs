//! Who a caller is: account names, passwords, and the defence against
//! guessing them.
//!
//! - [`username`]: usernames in one canonical form (RFC 8265
//!   UsernameCaseMapped), so no name can pass for another; CreateUser's
//!   refusals.
//! - [`password`]: argon2id on worker threads, never the async ones, behind
//!   a bounded queue.
//! - `throttle`: brute-force defence for Login and IssueServiceToken (its
//!   per-account counts kept in the store), and a per-source limit on
//!   failed Refreshes.
//! - [`input`]: checks on client input: usernames, passwords, roles,
//!   service-account names and scopes, plans, certificate bindings.
//! - [`assertion`]: keys instead of secrets: the public keys a service
//!   account registers and the client assertions (RFC 7523) it signs.
//! - [`trusted_issuers`]: the `--federation` file: external issuers whose
//!   tokens log service accounts in, and where their keys are.
//! - [`federation`]: such a token verified against its issuer's keys.

pub mod assertion;
pub mod federation;
pub mod input;
pub mod password;
pub(crate) mod throttle;
pub mod trusted_issuers;
pub mod username;
