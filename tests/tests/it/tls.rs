//! TLS for both services and optional mTLS for service-to-service calls
//! (docs/security.md, TM-08), with certificates made here by rcgen: a CA, a
//! server certificate for 127.0.0.1, and a client certificate.

use std::{net::SocketAddr, path::PathBuf};

use authpair_proto::{
    auth::v1::{
        IssueServiceTokenRequest, LoginRequest, WatchRevocationsRequest, auth_service_client::AuthServiceClient,
    },
    resource::v1::{GetMyProfileRequest, ListDocumentsRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{
    ADMIN_PASSWORD, ADMIN_USERNAME, AuthConfig, RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET, ResourceConfig, Server,
    TestResult, any_port, bearer, reason,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use tonic::{
    Code,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// A CA, a server certificate for 127.0.0.1 and localhost, and two client
/// certificates (`client`, `other`), as PEM files in a directory of their
/// own, with each certificate's SHA-256 thumbprint (`x5t#S256`).
pub(crate) struct Pki {
    dir: tempfile::TempDir,
    thumbprints: std::collections::HashMap<&'static str, [u8; 32]>,
}

impl Pki {
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn new() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let dir = tempfile::tempdir()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "authpair test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
        std::fs::write(dir.path().join("ca.pem"), ca.pem())?;
        let mut thumbprints = std::collections::HashMap::new();
        for (name, usage) in [
            ("server", ExtendedKeyUsagePurpose::ServerAuth),
            ("client", ExtendedKeyUsagePurpose::ClientAuth),
            ("other", ExtendedKeyUsagePurpose::ClientAuth),
        ] {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
            params.distinguished_name.push(DnType::CommonName, format!("authpair test {name}"));
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca)?;
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem())?;
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem())?;
            thumbprints.insert(name, <sha2::Sha256 as sha2::Digest>::digest(cert.der().as_ref()).into());
        }
        Ok(Self { dir, thumbprints })
    }

    /// The SHA-256 of certificate `name`'s DER.
    pub(crate) fn thumbprint(&self, name: &str) -> [u8; 32] {
        self.thumbprints.get(name).copied().unwrap_or_default()
    }

    fn client(&self, identity: Option<&str>) -> Result<ClientTlsConfig, std::io::Error> {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(self.path("ca.pem"))?));
        if let Some(name) = identity {
            let (cert, key) = (self.path(&format!("{name}.pem")), self.path(&format!("{name}.key")));
            tls = tls.identity(Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?));
        }
        Ok(tls)
    }

    pub(crate) fn channel(
        &self,
        addr: SocketAddr,
        with_identity: bool,
    ) -> Result<Channel, Box<dyn std::error::Error + Send + Sync>> {
        self.channel_as(addr, with_identity.then_some("client"))
    }

    /// A rustls client configuration (for HTTPS) trusting the CA and
    /// presenting client certificate `identity`, or none.
    pub(crate) fn rustls(
        &self,
        identity: Option<&str>,
    ) -> Result<std::sync::Arc<tokio_rustls::rustls::ClientConfig>, Box<dyn std::error::Error + Send + Sync>> {
        use tokio_rustls::rustls::{
            ClientConfig, RootCertStore,
            crypto::ring,
            pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
        };
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(self.path("ca.pem"))?)?;
        let config = ClientConfig::builder_with_provider(std::sync::Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = match identity {
            None => config.with_no_client_auth(),
            Some(name) => {
                let chain = vec![CertificateDer::from_pem_file(self.path(&format!("{name}.pem")))?];
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{name}.key")))?;
                config.with_client_auth_cert(chain, key)?
            }
        };
        Ok(std::sync::Arc::new(config))
    }

    /// A TLS channel presenting client certificate `identity`, or none.
    pub(crate) fn channel_as(
        &self,
        addr: SocketAddr,
        identity: Option<&str>,
    ) -> Result<Channel, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Endpoint::from_shared(format!("https://{addr}"))?.tls_config(self.client(identity)?)?.connect_lazy())
    }
}

pub(crate) async fn serving(channel: Channel) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut updates =
        HealthClient::new(channel).watch(HealthCheckRequest { service: String::new() }).await?.into_inner();
    while let Some(update) = updates.message().await? {
        if update.status() == ServingStatus::Serving {
            return Ok(());
        }
    }
    Err("health stream ended".into())
}

/// The first byte of a TLS alert record (RFC 8446 §5.1, content type 21).
const TLS_ALERT: u8 = 0x15;

/// What a TLS port sends back to a plaintext HTTP/2 client preface and an
/// empty SETTINGS frame, until it closes the connection.
async fn plaintext_http2_answer(addr: SocketAddr) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut hello = authpair_tests::raw_h2::PREFACE.to_vec();
    authpair_tests::raw_h2::frame(&mut hello, authpair_tests::raw_h2::SETTINGS, 0, 0, &[]);
    tcp.write_all(&hello).await?;
    let mut answer = Vec::new();
    // A reset instead of a clean close is an end too: nothing more arrives.
    match tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => Ok(answer),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(answer),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err("the TLS port kept a plaintext connection open".into()),
    }
}

#[tokio::test]
async fn tm_08_both_services_speak_tls_and_service_calls_can_require_a_client_certificate() -> TestResult {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;

    let mut auth = AuthConfig::new(data.path().join("auth"));
    auth.bootstrap_admin = Some(auth_service::BootstrapAdmin::new(ADMIN_USERNAME, ADMIN_PASSWORD));
    auth.bootstrap_service_account =
        Some(auth_service::BootstrapServiceAccount::new(RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET));
    auth.shared.serving.tls_cert = Some(pki.path("server.pem"));
    auth.shared.serving.tls_key = Some(pki.path("server.key"));
    auth.shared.serving.tls_client_ca = Some(pki.path("ca.pem"));
    auth.shared.serving.require_client_cert_for_services = true;
    let auth_server = Server::start(any_port(), |listener, stopped| async move {
        auth_service::serve(listener, auth, async move {
            let _ = stopped.await;
        })
        .await
    })
    .await?;
    serving(pki.channel(auth_server.addr, false)?).await?;

    // The resource service: TLS itself, and mTLS to the auth service.
    // SERVING means it loaded keys and followed the feed over mTLS.
    let resource_server = resource_over_mtls(&pki, auth_server.addr, &data.path().join("resource"), false).await?;

    let mut auth_client = AuthServiceClient::new(pki.channel(auth_server.addr, false)?);
    let login = LoginRequest { username: ADMIN_USERNAME.into(), password: ADMIN_PASSWORD.into(), ..Default::default() };
    let token = auth_client.login(login.clone()).await?.into_inner().access_token;
    let mut resource_client = ResourceServiceClient::new(pki.channel(resource_server.addr, false)?);
    assert_eq!(
        resource_client.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner().username,
        ADMIN_USERNAME
    );

    // TM-08: plaintext to either TLS port does not get through. The TLS
    // layer ends the connection before HTTP/2 starts: no server preface, no
    // gRPC status from a handler, at most a TLS alert record.
    for addr in [auth_server.addr, resource_server.addr] {
        let started = std::time::Instant::now();
        let answer = plaintext_http2_answer(addr).await?;
        assert!(answer.is_empty() || answer[0] == TLS_ALERT, "{addr}: plaintext got {answer:02x?}");
        // Refused at once, not after a handshake timeout.
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{addr}: took {:?}", started.elapsed());
    }
    let plain = Endpoint::from_shared(format!("http://{}", auth_server.addr))?.connect_lazy();
    let started = std::time::Instant::now();
    let refused = AuthServiceClient::new(plain).login(login).await.err().ok_or("plaintext login served")?;
    // A plaintext client learns at once: the TLS layer ends the connection.
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
    // The client's own transport error: UNKNOWN or UNAVAILABLE, as the
    // connection's end races the request.
    assert!(matches!(refused.code(), Code::Unknown | Code::Unavailable), "{refused:?}");
    assert_eq!(reason(&refused), None);

    // A service token without a client certificate is refused; with one, the feed opens.
    let issue = IssueServiceTokenRequest {
        client_id: RESOURCE_CLIENT_ID.into(),
        client_secret: RESOURCE_CLIENT_SECRET.into(),
        scope: String::new(),
        audience: authpair_tests::ADMIN_AUDIENCE.into(),
        ..Default::default()
    };
    let service = auth_client.issue_service_token(issue).await?.into_inner().access_token;
    let refused = auth_client.watch_revocations(bearer(WatchRevocationsRequest::default(), &service)).await;
    let refused = refused.err().ok_or("a service token without a client certificate was accepted")?;
    assert_eq!((refused.code(), refused.message()), (Code::PermissionDenied, "requires a client certificate"));
    assert_eq!(reason(&refused).as_deref(), Some("CLIENT_CERT_REQUIRED"));
    let mut with_cert = AuthServiceClient::new(pki.channel(auth_server.addr, true)?);
    let mut feed =
        with_cert.watch_revocations(bearer(WatchRevocationsRequest::default(), &service)).await?.into_inner();
    assert!(feed.message().await?.is_some());
    drop(resource_server);
    Ok(())
}

/// A resource service following the TLS auth service at `auth` over mTLS
/// (as certificate `client`, with the bootstrap service account), serving
/// TLS itself and, with `verify_clients`, verifying the client
/// certificates presented. Returns once SERVING: keys loaded and the feed
/// followed.
pub(crate) async fn resource_over_mtls(
    pki: &Pki,
    auth: SocketAddr,
    data: &std::path::Path,
    verify_clients: bool,
) -> Result<Server, Box<dyn std::error::Error + Send + Sync>> {
    let mut resource = ResourceConfig::new(format!("https://{auth}"), data.to_path_buf());
    resource.client_id = RESOURCE_CLIENT_ID.into();
    resource.follow.client_secret = Some(RESOURCE_CLIENT_SECRET.into());
    resource.follow.auth_ca = Some(pki.path("ca.pem"));
    resource.follow.client_cert = Some(pki.path("client.pem"));
    resource.follow.client_key = Some(pki.path("client.key"));
    resource.shared.serving.tls_cert = Some(pki.path("server.pem"));
    resource.shared.serving.tls_key = Some(pki.path("server.key"));
    resource.shared.serving.tls_client_ca = verify_clients.then(|| pki.path("ca.pem"));
    let server = Server::start(any_port(), |listener, stopped| async move {
        resource_service::serve(listener, resource, async move {
            let _ = stopped.await;
        })
        .await
    })
    .await?;
    serving(pki.channel(server.addr, false)?).await?;
    Ok(server)
}

/// A resource service following `app`'s auth service, serving TLS and
/// verifying the client certificates presented (mTLS); with
/// `require_for_services`, a service token needs one. Returns once SERVING.
async fn mtls_resource(
    pki: &Pki,
    app: &authpair_tests::TestApp,
    data: &std::path::Path,
    require_for_services: bool,
) -> Result<Server, Box<dyn std::error::Error + Send + Sync>> {
    let mut resource = authpair_tests::resource_config(&app.auth_server, data.join("resource"));
    resource.shared.serving.tls_cert = Some(pki.path("server.pem"));
    resource.shared.serving.tls_key = Some(pki.path("server.key"));
    resource.shared.serving.tls_client_ca = Some(pki.path("ca.pem"));
    resource.shared.serving.require_client_cert_for_services = require_for_services;
    let server = Server::start(any_port(), |listener, stopped| async move {
        resource_service::serve(listener, resource, async move {
            let _ = stopped.await;
        })
        .await
    })
    .await?;
    serving(pki.channel(server.addr, false)?).await?;
    Ok(server)
}

#[tokio::test]
async fn the_resource_service_too_can_accept_service_tokens_only_with_a_client_certificate() -> TestResult {
    let pki = Pki::new()?;
    let app = authpair_tests::TestApp::spawn().await?;
    let data = tempfile::tempdir()?;
    let resource_server = mtls_resource(&pki, &app, data.path(), true).await?;

    let service = app.service_token("reporter", &["documents:read"], "").await?;
    let list = || bearer(ListDocumentsRequest::default(), &service);
    let without = ResourceServiceClient::new(pki.channel(resource_server.addr, false)?);
    let refused = without.clone().list_documents(list()).await.err().ok_or("a service token without a certificate")?;
    assert_eq!((refused.code(), refused.message()), (Code::PermissionDenied, "requires a client certificate"));
    assert_eq!(reason(&refused).as_deref(), Some("CLIENT_CERT_REQUIRED"));
    let with = ResourceServiceClient::new(pki.channel(resource_server.addr, true)?);
    with.clone().list_documents(list()).await?;
    // A user's token needs no certificate.
    let (_, user) = app.user_with_token("una", &["viewer"]).await?;
    without.clone().list_documents(bearer(ListDocumentsRequest::default(), &user)).await?;
    Ok(())
}

#[tokio::test]
async fn cb_01_a_certificate_bound_token_is_accepted_only_over_its_own_client_certificate() -> TestResult {
    let pki = Pki::new()?;
    let app = authpair_tests::TestApp::spawn().await?;
    let data = tempfile::tempdir()?;
    let resource_server = mtls_resource(&pki, &app, data.path(), false).await?;

    // A token bound to `client`'s certificate (cnf.x5t#S256, RFC 8705),
    // signed with the auth service's real key.
    let (user, unbound) = app.user_with_token("bea", &["viewer"]).await?;
    let forger = authpair_tests::Forger::from_auth_config(&app.auth_config).await?;
    let mut claims = forger.claims(&user.id, &["viewer"]);
    claims["cnf"] = serde_json::json!({"x5t#S256": URL_SAFE_NO_PAD.encode(pki.thumbprint("client"))});
    let bound = forger.sign(&forger.header(), &claims);

    let profile = |identity: Option<&'static str>, token: String| {
        let channel = pki.channel_as(resource_server.addr, identity);
        async move {
            let mut client = ResourceServiceClient::new(channel.map_err(|e| tonic::Status::unknown(e.to_string()))?);
            client.get_my_profile(bearer(GetMyProfileRequest {}, &token)).await.map(|r| r.into_inner().subject)
        }
    };
    assert_eq!(profile(Some("client"), bound.clone()).await?, user.id, "over its own certificate");
    for (identity, over) in [(Some("other"), "another client's certificate"), (None, "a connection without one")] {
        let refused = profile(identity, bound.clone()).await.err().ok_or(format!("accepted over {over}"))?;
        assert_eq!(
            (refused.code(), refused.message()),
            (Code::Unauthenticated, "token bound to another client certificate"),
            "over {over}"
        );
        assert_eq!(reason(&refused).as_deref(), Some("CERTIFICATE_MISMATCH"), "over {over}");
    }
    // An unbound token is a bearer token, over any connection.
    assert_eq!(profile(None, unbound.clone()).await?, user.id);
    assert_eq!(profile(Some("other"), unbound).await?, user.id);
    Ok(())
}
