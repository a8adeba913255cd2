//! Workspace integration tests, one binary (one link) for all of them.

mod admin;
mod authentication;
mod authorization;
mod flow;
mod grpcurl;
mod lifecycle;
mod restart;
