//! Trusted external issuers, as the `--federation` file names them: a
//! workload logs in with the token its platform already gives it (a
//! Kubernetes projected service-account token, a SPIFFE JWT-SVID), and no
//! secret is stored anywhere. The file names each issuer, where its keys are, and what its
//! tokens must be for; which of its subjects is which service account is
//! data, kept in the database and managed by the admin API.
//!
//! ```toml
//! [[issuer]]
//! issuer = "https://kubernetes.default.svc.cluster.local"
//! jwks_url = "https://kubernetes.default.svc/openid/v1/jwks"
//! ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
//! # audience = "https://auth.example.com"   (default: this issuer's)
//! # max_token_lifetime_secs = 86400
//!
//! [[issuer]]
//! issuer = "spiffe://example.org"
//! jwks_file = "/run/spire/bundle.jwks"
//! ```

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;

/// The longest a federated token may be good for, unless the file says.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The trusted issuers, as read and checked from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Federation {
    pub issuers: Vec<TrustedIssuer>,
}

/// One external issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The `iss` its tokens carry, exactly.
    pub issuer: String,
    /// Where its public keys (a JWK set) are: the only place they are
    /// fetched from, whatever a token's header says.
    pub keys: KeySource,
    /// The audience its tokens must name; `None`: this auth service's
    /// issuer.
    pub audience: Option<String>,
    /// The longest `exp - iat` (or `exp - now`) taken.
    pub max_token_lifetime: Duration,
}

/// Where an issuer's JWK set is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `http://` or `https://`; over https, verified against `ca_file`.
    Url { url: String, ca_file: Option<PathBuf> },
    /// A file (a mounted bundle), read again when a key is missing.
    File(PathBuf),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIssuer {
    issuer: String,
    jwks_url: Option<String>,
    jwks_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    audience: Option<String>,
    max_token_lifetime_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    issuer: Vec<FileIssuer>,
}

/// Whether `subject` may be a federated identity's `sub`: 1 to 256
/// characters, none of them a control character.
pub fn is_subject(subject: &str) -> bool {
    (1..=256).contains(&subject.len()) && !subject.chars().any(char::is_control)
}

impl Federation {
    /// Reads and checks the file at `path` (the flag's value parser): each
    /// issuer named once, with exactly one of `jwks_url` and `jwks_file`,
    /// an http(s) URL, a CA file only for https.
    pub fn read(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Self::parse(&text).map_err(|e| format!("{path}: {e}"))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut issuers: Vec<TrustedIssuer> = Vec::new();
        for entry in file.issuer {
            let name = entry.issuer.trim().to_owned();
            if name.is_empty() {
                return Err("an issuer's `issuer` is empty".into());
            }
            if issuers.iter().any(|i| i.issuer == name) {
                return Err(format!("issuer {name:?} is listed twice"));
            }
            let keys = match (entry.jwks_url, entry.jwks_file) {
                (Some(url), None) => {
                    let https = url.starts_with("https://");
                    if !https && !url.starts_with("http://") {
                        return Err(format!("issuer {name:?}: jwks_url must be http:// or https://"));
                    }
                    if entry.ca_file.is_some() && !https {
                        return Err(format!("issuer {name:?}: ca_file is for an https jwks_url"));
                    }
                    if https && entry.ca_file.is_none() {
                        return Err(format!(
                            "issuer {name:?}: an https jwks_url needs ca_file (the CA bundle to trust)"
                        ));
                    }
                    KeySource::Url { url, ca_file: entry.ca_file }
                }
                (None, Some(file)) if entry.ca_file.is_none() => KeySource::File(file),
                (None, Some(_)) => return Err(format!("issuer {name:?}: ca_file is for an https jwks_url")),
                _ => return Err(format!("issuer {name:?}: exactly one of jwks_url and jwks_file")),
            };
            let max_token_lifetime =
                entry.max_token_lifetime_secs.map_or(DEFAULT_MAX_TOKEN_LIFETIME, Duration::from_secs);
            if max_token_lifetime.is_zero() {
                return Err(format!("issuer {name:?}: max_token_lifetime_secs must be positive"));
            }
            let audience = entry.audience.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
            issuers.push(TrustedIssuer { issuer: name, keys, audience, max_token_lifetime });
        }
        Ok(Self { issuers })
    }

    /// The issuer named `iss`, if trusted.
    pub fn issuer(&self, iss: &str) -> Option<&TrustedIssuer> {
        self.issuers.iter().find(|i| i.issuer == iss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_lists_issuers_with_their_keys_audience_and_lifetime() -> Result<(), String> {
        let federation = Federation::parse(
            r#"
            [[issuer]]
            issuer = "https://kubernetes.default.svc"
            jwks_url = "https://kubernetes.default.svc/openid/v1/jwks"
            ca_file = "/ca.crt"
            audience = "https://auth.example"
            max_token_lifetime_secs = 3600

            [[issuer]]
            issuer = "spiffe://example.org"
            jwks_file = "/run/spire/bundle.jwks"
            "#,
        )?;
        let k8s = federation.issuer("https://kubernetes.default.svc").ok_or("no k8s")?;
        assert_eq!(k8s.audience.as_deref(), Some("https://auth.example"));
        assert_eq!(k8s.max_token_lifetime, Duration::from_secs(3600));
        let spiffe = federation.issuer("spiffe://example.org").ok_or("no spiffe")?;
        assert_eq!(spiffe.keys, KeySource::File("/run/spire/bundle.jwks".into()));
        assert_eq!((spiffe.audience.as_ref(), spiffe.max_token_lifetime), (None, DEFAULT_MAX_TOKEN_LIFETIME));
        assert!(federation.issuer("https://elsewhere").is_none());
        Ok(())
    }

    #[test]
    fn an_issuer_without_exactly_one_key_source_twice_or_over_https_without_a_ca_is_refused() {
        for (text, says) in [
            ("[[issuer]]\nissuer = \"a\"", "exactly one of"),
            ("[[issuer]]\nissuer = \"a\"\njwks_url = \"http://x\"\njwks_file = \"/f\"", "exactly one of"),
            ("[[issuer]]\nissuer = \"a\"\njwks_url = \"https://x\"", "needs ca_file"),
            ("[[issuer]]\nissuer = \"a\"\njwks_url = \"ftp://x\"", "http:// or https://"),
            ("[[issuer]]\nissuer = \"a\"\njwks_file = \"/f\"\nca_file = \"/c\"", "ca_file is for"),
            ("[[issuer]]\nissuer = \"a\"\njwks_file = \"/f\"\n[[issuer]]\nissuer = \"a\"\njwks_file = \"/g\"", "twice"),
            ("[[issuer]]\nissuer = \"a\"\njwks_file = \"/f\"\njku = \"x\"", "unknown field"),
            ("[[issuer]]\nissuer = \"\"\njwks_file = \"/f\"", "empty"),
        ] {
            let refused = Federation::parse(text).err().unwrap_or_default();
            assert!(refused.contains(says), "{text}: {refused}");
        }
    }
}
