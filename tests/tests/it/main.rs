//! Workspace integration tests, one binary (one link) for all of them.

mod admin;
mod audiences;
mod authentication;
mod authorization;
mod brute_force;
mod client;
mod clock_skew;
mod documents;
mod failover;
mod flow;
mod grpcurl;
mod header_syntax;
mod http2_limits;
mod lifecycle;
mod load_tool;
mod login_flood;
mod policy_matrix;
mod redis_quota;
mod restart;
mod restore;
mod secrets_at_rest;
mod service_accounts;
mod shared_throttle;
mod supply_chain;
mod tls;
