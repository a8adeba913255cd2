//! The in-memory denylist every interceptor consults after a token verifies.
//!
//! Two kinds of entry, both keyed by issuer, never by a hash of the token
//! text (an equivalent re-encoding of a revoked token must stay revoked):
//! - a single token: issuer + `jti`, kept until the token's `exp`;
//! - a whole subject: issuer + `sub` with a minimum generation: every token of
//!   that subject whose `gen` claim is lower, i.e. issued before the
//!   revocation was logged, is revoked. Generations come from the revocation
//!   log's sequence, so this ordering is exact, with no clock involved.
//!
//! A denylist fed from a remote feed knows when it last heard from the feed;
//! past `max_staleness` it fails closed, so a possibly revoked token is never
//! let through on old information.
//!
//! - `denylist`: [`Revocation`] and [`Denylist`].
//!
//! The denylist is fed by the auth service itself, or in a protected service
//! by the revocation feed's follower (`crate::follower`).

mod denylist;

pub use denylist::{Denylist, Revocation};
