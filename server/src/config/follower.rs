//! The flags of a server that checks tokens it did not issue
//! ([`TokenFlags`]) and follows the auth service's keys and revocation feed
//! to do so ([`FollowerFlags`]): the resource service and the gate. Defined
//! once, flattened into each; the pieces they build from them
//! ([`FollowerFlags::verifier`], [`FollowerFlags::denylist`],
//! [`FollowerFlags::start`]) are built here the same way for both.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use authpair_claims::{
    Denylist, Ed25519Backend, Policy, Verifier, VerifierConfig,
    follower::{Follower, FollowerConfig},
};
use secrecy::SecretString;

use super::{parse_secret, parse_secs};

/// How a token's time claims and signature are checked.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenFlags {
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    #[arg(long = "leeway-secs", default_value = "30", value_parser = parse_secs)]
    pub leeway: Duration,

    /// Which code checks token signatures: `prepared` (fixed-base tables
    /// built once per key, the default) or `stock` (ed25519-dalek's
    /// `verify_strict`). The verdict is the same; only the cost differs.
    #[arg(long, default_value = "prepared")]
    pub ed25519: Ed25519Backend,
}

/// Where the auth service is, and what a follower of it accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct FollowerFlags {
    /// The auth service, for its public signing keys and the revocation
    /// feed: one URL, or several comma-separated instances sharing one
    /// database; calls go to those that answer, so one can fail.
    #[arg(
        long = "auth-url",
        default_value = authpair_claims::defaults::AUTH_URL,
        value_delimiter = ','
    )]
    pub auth_urls: Vec<String>,

    /// Pins the `iss` tokens must carry. Unset: the issuer the auth service
    /// announces on its feed, with the earlier ones it still honours; set,
    /// only this one, and an auth service announcing another is logged as
    /// an error.
    #[arg(long)]
    pub issuer: Option<String>,

    /// The auth service's own audience (its `--admin-audience`), which the
    /// revocation feed's token is asked for. Must differ from every
    /// audience this server accepts, or tokens for the admin API would work
    /// here (TF-11 d).
    #[arg(long, default_value = authpair_claims::defaults::ADMIN_AUDIENCE)]
    pub auth_audience: String,

    /// Longest access-token lifetime (`exp - iat`) accepted, in seconds.
    /// Must be at least the auth service's access-token TTL.
    #[arg(long = "max-token-lifetime-secs", default_value = "3600", value_parser = parse_secs)]
    pub max_token_lifetime: Duration,

    /// Bound of the verified-token cache, in bytes of token text plus a
    /// fixed overhead per entry (about 1.1 KiB for a typical token); 0
    /// turns it off, and every call then checks a signature.
    #[arg(long, default_value_t = authpair_claims::token::verifier::DEFAULT_CACHE_BYTES)]
    pub token_cache_bytes: u64,

    /// The client secret of this server's service account (--client-id) at
    /// the auth service. Required: without the revocation feed every call
    /// would fail closed.
    #[arg(long, hide_env_values = true, value_parser = parse_secret)]
    pub client_secret: Option<SecretString>,

    /// Longest the revocation feed may be silent, in seconds; after that,
    /// authenticated calls fail closed with UNAVAILABLE.
    #[arg(long = "max-revocation-staleness-secs", default_value = "60", value_parser = parse_secs)]
    pub max_revocation_staleness: Duration,

    /// A token with an unknown kid makes the server re-read the keys at most
    /// this often, in seconds, however many such tokens arrive.
    #[arg(long = "unknown-kid-refetch-secs", default_value = "30", value_parser = parse_secs)]
    pub unknown_kid_refetch: Duration,

    /// The CA that signed the auth service's certificate, for an https
    /// --auth-url.
    #[arg(long)]
    pub auth_ca: Option<PathBuf>,

    /// mTLS to the auth service: this server's client certificate and key.
    #[arg(long, requires_all = ["auth_ca", "client_key"])]
    pub client_cert: Option<PathBuf>,

    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

impl FollowerFlags {
    /// A verifier for tokens naming `audience` (and, on public methods or
    /// per route, `other_audiences`), whose issuer and roles come from the
    /// auth service's announcement unless --issuer pins the issuer.
    pub fn verifier(&self, audience: String, other_audiences: Vec<String>, tokens: &TokenFlags) -> Verifier {
        Verifier::new(VerifierConfig {
            issuer: self.issuer.clone(),
            cache_bytes: self.token_cache_bytes,
            ed25519: tokens.ed25519,
            public_audiences: other_audiences,
            ..VerifierConfig::following(audience, tokens.leeway, self.max_token_lifetime)
        })
    }

    /// The denylist the feed fills; stale after --max-revocation-staleness-secs.
    pub fn denylist(&self) -> Denylist {
        Denylist::fed(self.max_revocation_staleness)
    }

    /// Starts following the auth service's keys and revocation feed as the
    /// service account `client_id`, for the server named `service`.
    pub fn start(
        &self,
        service: &'static str,
        client_id: &str,
        policy: Option<Arc<Policy>>,
        verifier: Arc<Verifier>,
        denylist: Arc<Denylist>,
    ) -> anyhow::Result<Follower> {
        let client_secret = self.client_secret.clone().with_context(|| {
            format!("{service}: --client-secret is required: without the revocation feed every call would fail closed")
        })?;
        let tls = match &self.auth_ca {
            Some(ca) => Some(crate::tls::client_tls(ca, self.client_cert.as_deref().zip(self.client_key.as_deref()))?),
            None => None,
        };
        let config = FollowerConfig {
            service,
            auth_urls: self.auth_urls.clone(),
            tls,
            client_id: client_id.to_owned(),
            client_secret,
            auth_audience: self.auth_audience.clone(),
            unknown_kid_refetch: self.unknown_kid_refetch,
            policy,
        };
        Ok(Follower::start(config, verifier, denylist)?)
    }
}
