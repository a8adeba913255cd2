//! The storage-touching integration tests again, on PostgreSQL: the same
//! modules as `it`, compiled into a binary whose name makes the harness put
//! every service on a schema of its own ([`authpair_tests::Backend`]). Plus
//! what only a shared database can show: several auth instances on one
//! schema, and PostgreSQL outages.
//!
//! Without PostgreSQL at 127.0.0.1:5432 (and outside CI) this binary says
//! that it skipped, and passes.

#[path = "../it/admin.rs"]
mod admin;
#[path = "../it/authentication.rs"]
mod authentication;
#[path = "../it/authorization.rs"]
mod authorization;
#[path = "../it/brute_force.rs"]
mod brute_force;
#[path = "../it/client.rs"]
mod client;
#[path = "../it/client_assertions.rs"]
mod client_assertions;
#[path = "../it/documents.rs"]
mod documents;
#[path = "../it/failover.rs"]
mod failover;
#[path = "../it/flow.rs"]
mod flow;
#[path = "../it/lifecycle.rs"]
mod lifecycle;
#[path = "../it/policy_matrix.rs"]
mod policy_matrix;
#[path = "../it/restart.rs"]
mod restart;
#[path = "../it/role_change.rs"]
mod role_change;
#[path = "../it/secrets_at_rest.rs"]
mod secrets_at_rest;
#[path = "../it/service_accounts.rs"]
mod service_accounts;
#[path = "../it/token_exchange.rs"]
mod token_exchange;
#[path = "../it/usernames.rs"]
mod usernames;

mod multi_process;
mod outage;
mod same_url;
mod schema_parity;
mod shared_database;
mod username_fill;
