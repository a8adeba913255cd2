//! The auth service's URL: parsed, checked and written in one normal form,
//! so that a session is found again under any spelling of the URL it was
//! made for, and never under another's.
//!
//! The normal form is `scheme://host[:port]`: the scheme and host lower
//! case, the scheme's default port left out, no trailing slash. Only
//! `http` and `https` are accepted, with nothing after the authority (a
//! gRPC channel has no path prefix), and no user name or password in it.

use std::fmt;

use url::Url;

use crate::error::CliError;

/// An auth service URL in normal form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthUrl(String);

impl AuthUrl {
    /// Parses and checks `raw`, naming what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, CliError> {
        let bad = |why: &str| CliError::other(format!("bad auth service URL {raw:?}: {why}"));
        if !raw.contains("://") {
            return Err(bad("write it as http://HOST:PORT, or https://HOST:PORT for TLS"));
        }
        let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(&format!(
                "the scheme is {:?}; the auth service speaks gRPC over http:// or https:// only",
                url.scheme()
            )));
        }
        let Some(host) = url.host_str() else { return Err(bad("no host")) };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it must not hold a user name or password"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it takes no path, query or fragment: only http(s)://HOST:PORT"));
        }
        // `port()` is None for the scheme's default port, which is left out.
        let normal = match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(Self(normal))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// `host:port`, the port explicit, for a raw TCP connection.
    pub fn host_and_port(&self) -> Result<(String, u16), CliError> {
        let url = Url::parse(&self.0).map_err(|e| CliError::other(format!("{}: {e}", self.0)))?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        Ok((host, port))
    }
}

impl fmt::Display for AuthUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(raw: &str) -> String {
        match AuthUrl::parse(raw) {
            Ok(url) => url.0,
            Err(e) => format!("refused: {e}"),
        }
    }

    #[test]
    fn spellings_of_one_url_have_one_normal_form() {
        for raw in ["http://127.0.0.1:50051", "http://127.0.0.1:50051/", "HTTP://127.0.0.1:50051/"] {
            assert_eq!(normal(raw), "http://127.0.0.1:50051", "{raw}");
        }
        assert_eq!(normal("http://Auth.Example.COM:50051/"), "http://auth.example.com:50051");
        assert_eq!(normal("https://auth.example.com:443/"), "https://auth.example.com");
        assert_eq!(normal("http://auth.example.com:80"), "http://auth.example.com");
        assert_eq!(normal("https://auth.example.com:80"), "https://auth.example.com:80");
        assert_eq!(normal("http://[::1]:50051/"), "http://[::1]:50051");
    }

    #[test]
    fn different_hosts_ports_and_schemes_stay_different() {
        let forms: std::collections::HashSet<String> =
            ["http://127.0.0.1:50051", "http://localhost:50051", "http://127.0.0.1:50052", "https://127.0.0.1:50051"]
                .into_iter()
                .map(normal)
                .collect();
        assert_eq!(forms.len(), 4, "{forms:?}");
    }

    #[test]
    fn schemes_other_than_http_and_https_are_refused() {
        assert_eq!(
            normal("ftp://127.0.0.1:50051"),
            "refused: error: bad auth service URL \"ftp://127.0.0.1:50051\": the scheme is \"ftp\"; the auth service \
             speaks gRPC over http:// or https:// only"
        );
        assert!(normal("file:///etc/passwd").starts_with("refused: "));
        assert!(normal("grpc://127.0.0.1:50051").starts_with("refused: "));
    }

    #[test]
    fn a_url_without_a_scheme_paths_or_credentials_is_refused() {
        assert_eq!(
            normal("127.0.0.1:50051"),
            "refused: error: bad auth service URL \"127.0.0.1:50051\": write it as http://HOST:PORT, or \
             https://HOST:PORT for TLS"
        );
        assert!(normal("http://127.0.0.1:50051/prefix").contains("takes no path"));
        assert!(normal("http://127.0.0.1:50051/?a=b").contains("takes no path"));
        assert!(normal("http://admin:pw@127.0.0.1:50051").contains("user name or password"));
    }

    #[test]
    fn the_port_is_explicit_for_a_raw_connection() -> Result<(), CliError> {
        assert_eq!(AuthUrl::parse("http://localhost")?.host_and_port()?, ("localhost".into(), 80));
        assert_eq!(AuthUrl::parse("http://[::1]:9")?.host_and_port()?, ("::1".into(), 9));
        Ok(())
    }
}
