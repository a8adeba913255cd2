//! Persistence for the auth service, through sqlx with embedded migrations.
//!
//! Callers see only [`Store`] and plain row types; SQL stays in this module.
//! The same SQL runs on SQLite and PostgreSQL ([`authpair_server::db`]).
//!
//! - `users`: users, their roles and plan.
//! - `canonical_usernames`: fills each stored username's canonical form.
//! - `username_skeletons`: fills each stored username's confusable skeleton.
//! - `refresh`: refresh-token families and single-use rotation.
//! - `revocations`: the revocation log and the writes that revoke a user.
//! - `logout`: a refresh family ended with its access tokens.
//! - `session_tokens`: the access tokens each session issued (and those
//!   exchanged from them), revoked with it on logout or refresh-token reuse.
//! - `keys`: signing keys and their publish/sign schedule.
//! - `service_accounts`: OAuth client-credentials accounts and their
//!   certificate binding.
//! - `account_keys`: their registered public keys (private_key_jwt) and
//!   the client assertions already used.
//! - `federated_identities`: external issuers' subjects mapped to them.
//! - `login_failures`: the brute-force throttle's counts, kept across restarts.

mod account_keys;
mod canonical_usernames;
mod federated_identities;
mod keys;
mod login_failures;
mod logout;
mod refresh;
mod revocations;
mod service_accounts;
mod session_tokens;
mod username_skeletons;
mod users;

use std::path::Path;

pub use authpair_server::db::StoreError;
use authpair_server::db::{Backend, Db, Migrations};
use secrecy::SecretString;

pub use account_keys::AccountKey;
pub use federated_identities::FederatedIdentity;
pub use keys::{KeyRow, Rotation};
pub use logout::AccessToken;
pub use refresh::{RefreshOutcome, RefreshRecord, Rotate};
pub use revocations::{CHANNEL, RevokeUser, UserRevoked};
pub use service_accounts::{CertificateBinding, ServiceAccountRow};
pub use session_tokens::{RevokedToken, SessionToken};
pub use users::{NewUser, UserRow};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The auth service's database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Opens `database_url` (PostgreSQL or SQLite), or `auth.db` in
    /// `data_dir`, migrates it, and fills the canonical form and confusable
    /// skeleton of usernames stored without them.
    pub async fn open(data_dir: &Path, database_url: Option<&SecretString>) -> anyhow::Result<Self> {
        let migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES, schema: "authpair_auth" };
        let store = Self { db: Db::open(database_url, &data_dir.join("auth.db"), migrations).await? };
        let filled = match store.fill_canonical_usernames().await {
            Ok(()) => store.fill_username_skeletons().await,
            Err(e) => Err(e),
        };
        if let Err(e) = filled {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The URL it was opened with, for a listener of its own.
    pub fn url(&self) -> &SecretString {
        self.db.url()
    }

    /// Whether the database answers within `within`: what health reports.
    pub async fn answers(&self, within: std::time::Duration) -> bool {
        self.db.answers(within).await
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}
