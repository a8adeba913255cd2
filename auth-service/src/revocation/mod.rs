//! Revocations on their way out of this instance, and other instances'
//! on their way in.
//!
//! - `feed`: the server side of the WatchRevocations stream.
//! - `log_listener`: on PostgreSQL, follows other instances' revocations
//!   (LISTEN/NOTIFY) into this instance's denylist and feed; on either
//!   backend, sweeps the log every feed heartbeat for an entry a cancelled
//!   handler committed but never announced.

pub(crate) mod feed;
pub(crate) mod log_listener;
