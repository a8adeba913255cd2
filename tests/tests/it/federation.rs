//! Federation with workload identities (docs/security.md FD-01): two local
//! issuers stand in for a Kubernetes cluster (its JWK set served over HTTP)
//! and a SPIRE server (its bundle in a file); their tokens, shaped like a
//! projected service-account token and a JWT-SVID, log in as the service
//! accounts their subjects are mapped to, and nothing else does.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use authpair_proto::{
    auth::v1::{
        AddFederatedIdentityRequest, FederatedIdentity, IssueServiceTokenRequest, ListServiceAccountsRequest,
        RemoveFederatedIdentityRequest,
    },
    resource::v1::GetMyProfileRequest,
};
use authpair_tests::{ISSUER, TestApp, TestResult, bearer, now, reason};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::{Code, Status};

const CLUSTER: &str = "https://kubernetes.default.svc.cluster.local";
const SPIRE: &str = "https://spire.example.org";
const ORDERS: &str = "system:serviceaccount:shop:orders";
const REPORTER: &str = "spiffe://example.org/ns/shop/sa/reporter";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A local issuer's P-256 signing key and its public JWK.
struct Issuer {
    iss: &'static str,
    kid: &'static str,
    key: EncodingKey,
    jwk: Value,
}

impl Issuer {
    fn new(iss: &'static str, kid: &'static str) -> anyhow::Result<Self> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let point = pair.public_key_raw();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..65]));
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"});
        Ok(Self { iss, kid, key: EncodingKey::from_ec_der(&pair.serialize_der()), jwk })
    }

    fn jwks(&self) -> String {
        json!({ "keys": [self.jwk] }).to_string()
    }

    /// A token for `sub` with the claims its platform puts in, changed by
    /// `change`.
    fn token(&self, sub: &str, change: impl FnOnce(&mut Value)) -> anyhow::Result<String> {
        let mut claims = json!({
            "iss": self.iss, "sub": sub, "aud": [ISSUER],
            "iat": now(), "nbf": now(), "exp": now() + 600,
        });
        if self.iss == CLUSTER {
            claims["kubernetes.io"] = json!({
                "namespace": "shop",
                "serviceaccount": {"name": "orders", "uid": "6a1d3c1e-0b6f-4f4e-9d0c-3c7b5c6e7f80"},
                "pod": {"name": "orders-5d8c7", "uid": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
            });
        }
        change(&mut claims);
        let header = Header { kid: Some(self.kid.into()), typ: Some("JWT".into()), ..Header::new(Algorithm::ES256) };
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }
}

/// Serves `body` as the answer to every HTTP request on loopback, counting
/// the requests.
async fn serve_jwks(body: String) -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/openid/v1/jwks", listener.local_addr()?);
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    Ok((url, hits))
}

struct Deployment {
    app: TestApp,
    cluster: Issuer,
    spire: Issuer,
    fetches: Arc<AtomicUsize>,
    _files: tempfile::TempDir,
}

/// The auth service trusting both issuers, with `orders` mapped from the
/// cluster's service account and `reporter` from the SPIFFE ID.
async fn deployment() -> anyhow::Result<Deployment> {
    let cluster = Issuer::new(CLUSTER, "cluster-key-1")?;
    let spire = Issuer::new(SPIRE, "spire-key-1")?;
    let (url, fetches) = serve_jwks(cluster.jwks()).await?;
    let files = tempfile::tempdir()?;
    let bundle = files.path().join("bundle.jwks");
    std::fs::write(&bundle, spire.jwks())?;
    let file = files.path().join("federation.toml");
    std::fs::write(
        &file,
        format!(
            "[[issuer]]\nissuer = \"{CLUSTER}\"\njwks_url = \"{url}\"\nmax_token_lifetime_secs = 3600\n\n\
             [[issuer]]\nissuer = \"{SPIRE}\"\njwks_file = \"{}\"\n",
            bundle.display()
        ),
    )?;
    let federation = auth_service::identity::trusted_issuers::Federation::read(&file.display().to_string())
        .map_err(anyhow::Error::msg)?;
    let app = TestApp::spawn_with(|auth| auth.federation = Some(federation), |_| {}).await?;
    app.service_account("orders", &["documents:read"]).await?;
    app.service_account("reporter", &["profile"]).await?;
    let admin = app.admin_token().await?;
    for (name, issuer, subject) in [("orders", CLUSTER, ORDERS), ("reporter", SPIRE, REPORTER)] {
        let identity = Some(FederatedIdentity { issuer: issuer.into(), subject: subject.into() });
        app.admin
            .clone()
            .add_federated_identity(bearer(AddFederatedIdentityRequest { name: name.into(), identity }, &admin))
            .await?;
    }
    Ok(Deployment { app, cluster, spire, fetches, _files: files })
}

async fn issue(app: &TestApp, client_id: &str, token: &str) -> Result<String, Status> {
    let request = IssueServiceTokenRequest {
        client_id: client_id.into(),
        client_assertion_type: ASSERTION_TYPE.into(),
        client_assertion: token.into(),
        ..Default::default()
    };
    Ok(app.auth.clone().issue_service_token(request).await?.into_inner().access_token)
}

fn assert_refused(result: Result<String, Status>, case: &str) {
    let refused = result.err().unwrap_or_else(|| panic!("{case}: a token was issued"));
    assert_eq!(
        (refused.code(), reason(&refused).as_deref()),
        (Code::Unauthenticated, Some("INVALID_CREDENTIALS")),
        "{case}: {refused:?}"
    );
}

#[tokio::test]
async fn a_workload_logs_in_with_its_platform_token_as_the_service_account_its_identity_is_mapped_to() -> TestResult {
    let d = deployment().await?;
    let from_cluster = issue(&d.app, "", &d.cluster.token(ORDERS, |_| {})?).await?;
    let profile = d.app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &from_cluster)).await?;
    assert_eq!(profile.into_inner().subject, "svc:orders");
    // A JWT-SVID from the bundle file, with the client id named.
    let from_spire = issue(&d.app, "reporter", &d.spire.token(REPORTER, |_| {})?).await?;
    let profile = d.app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &from_spire)).await?;
    assert_eq!(profile.into_inner().subject, "svc:reporter");
    // The platform token is the credential for as long as it lives: asked
    // again, it works again (no jti is spent).
    let token = d.cluster.token(ORDERS, |_| {})?;
    issue(&d.app, "", &token).await?;
    issue(&d.app, "", &token).await?;

    let admin = d.app.admin_token().await?;
    let listed = d.app.admin.clone().list_service_accounts(bearer(ListServiceAccountsRequest {}, &admin)).await?;
    let orders = listed.into_inner().accounts.into_iter().find(|a| a.name == "orders").ok_or("not listed")?;
    assert_eq!(orders.federated_identities, [FederatedIdentity { issuer: CLUSTER.into(), subject: ORDERS.into() }]);
    // Unmapped, it logs in as nobody.
    let identity = Some(FederatedIdentity { issuer: CLUSTER.into(), subject: ORDERS.into() });
    d.app.admin.clone().remove_federated_identity(bearer(RemoveFederatedIdentityRequest { identity }, &admin)).await?;
    assert_refused(issue(&d.app, "", &token).await, "after the mapping was removed");
    Ok(())
}

#[tokio::test]
async fn fd_01_an_unmapped_subject_an_untrusted_issuer_or_a_bad_token_logs_in_as_nobody() -> TestResult {
    let d = deployment().await?;
    let stranger = Issuer::new("https://other-cluster.example", "cluster-key-1")?;
    for (case, token, client_id) in [
        ("a subject mapped to no account", d.cluster.token("system:serviceaccount:shop:intruder", |_| {})?, ""),
        ("the right subject from an untrusted issuer", stranger.token(ORDERS, |_| {})?, ""),
        (
            "the cluster's iss and kid, signed by another key",
            Issuer::new(CLUSTER, "cluster-key-1")?.token(ORDERS, |_| {})?,
            "",
        ),
        ("for another audience", d.cluster.token(ORDERS, |c| c["aud"] = json!(["https://vault.example"]))?, ""),
        (
            "expired",
            d.cluster.token(ORDERS, |c| {
                c["iat"] = json!(now() - 7200);
                c["exp"] = json!(now() - 3600);
            })?,
            "",
        ),
        ("longer than the issuer allows", d.cluster.token(ORDERS, |c| c["exp"] = json!(now() + 2 * 86400))?, ""),
        ("without exp", d.cluster.token(ORDERS, |c| drop(c.as_object_mut().map(|m| m.remove("exp"))))?, ""),
        ("a mapped subject asking as another account", d.cluster.token(ORDERS, |_| {})?, "reporter"),
        ("the SVID's subject under the cluster's issuer", d.cluster.token(REPORTER, |_| {})?, ""),
    ] {
        assert_refused(issue(&d.app, client_id, &token).await, case);
    }
    let claims =
        URL_SAFE_NO_PAD.encode(json!({"iss": CLUSTER, "sub": ORDERS, "aud": [ISSUER], "exp": now() + 60}).to_string());
    let unsigned = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"cluster-key-1"}"#));
    assert_refused(issue(&d.app, "", &unsigned).await, "alg none");

    // An identity of an issuer the deployment does not trust cannot be mapped.
    let admin = d.app.admin_token().await?;
    let identity = Some(FederatedIdentity { issuer: "https://other-cluster.example".into(), subject: ORDERS.into() });
    let refused = d
        .app
        .admin
        .clone()
        .add_federated_identity(bearer(AddFederatedIdentityRequest { name: "orders".into(), identity }, &admin))
        .await
        .err()
        .ok_or("an untrusted issuer mapped")?;
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    // One identity logs in as one account.
    let identity = Some(FederatedIdentity { issuer: CLUSTER.into(), subject: ORDERS.into() });
    let twice = d
        .app
        .admin
        .clone()
        .add_federated_identity(bearer(AddFederatedIdentityRequest { name: "reporter".into(), identity }, &admin))
        .await
        .err()
        .ok_or("mapped to two accounts")?;
    assert_eq!(twice.code(), Code::AlreadyExists, "{twice:?}");
    Ok(())
}

#[tokio::test]
async fn fd_01_a_flood_of_unknown_key_ids_costs_the_issuer_one_fetch() -> TestResult {
    let d = deployment().await?;
    issue(&d.app, "", &d.cluster.token(ORDERS, |_| {})?).await?;
    let before = d.fetches.load(Ordering::SeqCst);
    assert_eq!(before, 1, "the first login read the cluster's keys once");
    for n in 0..50 {
        let kid = format!("rotated-key-{n}");
        let header = Header { kid: Some(kid), ..Header::new(Algorithm::ES256) };
        let claims = json!({"iss": CLUSTER, "sub": ORDERS, "aud": [ISSUER], "iat": now(), "exp": now() + 600});
        let token = jsonwebtoken::encode(&header, &claims, &d.cluster.key)?;
        assert_refused(issue(&d.app, "", &token).await, "an unknown kid");
    }
    assert_eq!(d.fetches.load(Ordering::SeqCst), before, "unknown kids within the refetch interval fetch nothing");
    // The known key still works throughout.
    issue(&d.app, "", &d.cluster.token(ORDERS, |_| {})?).await?;
    Ok(())
}
