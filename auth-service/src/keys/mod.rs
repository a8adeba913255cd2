//! The signing keys: in memory, and at rest in the database.
//!
//! - `keyring`: signing keys in memory; rotation and its schedule.
//! - [`sealing`]: the master key; signing keys sealed with it (AEAD) for the
//!   database.
//! - `at_rest`: sealed or, if allowed, plaintext; re-sealing at start.

pub(crate) mod at_rest;
pub(crate) mod keyring;
pub mod sealing;
