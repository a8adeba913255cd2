//! Certificate-bound service tokens as the auth service issues them (RFC
//! 8705; docs/security.md CB-02): asked for over mTLS, a service account's
//! token carries its client certificate's thumbprint as its account's
//! certificate binding says, and works only over that certificate; over
//! gRPC and the HTTP token endpoint alike, with introspection reporting
//! `cnf`. Both services speak TLS and verify client certificates here.

use std::net::SocketAddr;

use authpair_proto::{
    auth::v1::{
        CertificateBinding, CreateServiceAccountRequest, IntrospectRequest, IssueServiceTokenRequest,
        ListServiceAccountsRequest, LoginRequest, admin_service_client::AdminServiceClient,
        auth_service_client::AuthServiceClient,
    },
    resource::v1::{ListDocumentsRequest, resource_service_client::ResourceServiceClient},
};
use authpair_tests::{
    ADMIN_AUDIENCE, ADMIN_PASSWORD, ADMIN_USERNAME, AuthConfig, RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET, Server,
    TestResult, any_port, bearer,
    http1::{self, Answer, Ask},
    reason,
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::Value;
use tonic::{Code, Status};

use crate::tls::{Pki, resource_over_mtls, serving};

/// The auth service (TLS on both listeners, client certificates verified
/// when presented) and a resource service that follows it over mTLS as
/// `client` and verifies client certificates too.
struct Mtls {
    pki: Pki,
    auth: Server,
    resource: Server,
    _data: tempfile::TempDir,
}

impl Mtls {
    async fn start() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let pki = Pki::new()?;
        let data = tempfile::tempdir()?;
        let mut auth = AuthConfig::new(data.path().join("auth"));
        auth.bootstrap_admin = Some(auth_service::BootstrapAdmin::new(ADMIN_USERNAME, ADMIN_PASSWORD));
        auth.bootstrap_service_account =
            Some(auth_service::BootstrapServiceAccount::new(RESOURCE_CLIENT_ID, RESOURCE_CLIENT_SECRET));
        auth.shared.serving.tls_cert = Some(pki.path("server.pem"));
        auth.shared.serving.tls_key = Some(pki.path("server.key"));
        auth.shared.serving.tls_client_ca = Some(pki.path("ca.pem"));
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let http_addr = http.local_addr()?;
        let mut auth_server = Server::start(any_port(), |listener, stopped| async move {
            auth_service::serve_with_http(listener, Some(http), auth, async move {
                let _ = stopped.await;
            })
            .await
        })
        .await?;
        auth_server.http_addr = Some(http_addr);
        serving(pki.channel(auth_server.addr, false)?).await?;

        // Its own service account's token is bound to `client` (the
        // account's binding is the default, optional), and it opens the
        // feed over that same certificate.
        let resource_server = resource_over_mtls(&pki, auth_server.addr, &data.path().join("resource"), true).await?;
        Ok(Self { pki, auth: auth_server, resource: resource_server, _data: data })
    }

    fn auth_as(&self, identity: Option<&str>) -> Result<AuthServiceClient<tonic::transport::Channel>, TestError> {
        Ok(AuthServiceClient::new(self.pki.channel_as(self.auth.addr, identity)?))
    }

    async fn admin_token(&self) -> Result<String, TestError> {
        let login = LoginRequest {
            username: ADMIN_USERNAME.into(),
            password: ADMIN_PASSWORD.into(),
            audience: ADMIN_AUDIENCE.into(),
        };
        Ok(self.auth_as(None)?.login(login).await?.into_inner().access_token)
    }

    /// Creates service account `name` with `binding`, granted
    /// documents:read and tokens:introspect, for the default and the admin
    /// audience; returns its client secret.
    async fn account(&self, name: &str, binding: CertificateBinding) -> Result<String, TestError> {
        let request = CreateServiceAccountRequest {
            name: name.into(),
            scopes: vec!["documents:read".into(), "tokens:introspect".into()],
            audiences: vec![authpair_claims::defaults::AUDIENCE.into(), ADMIN_AUDIENCE.into()],
            certificate_binding: binding.into(),
            ..Default::default()
        };
        let mut admin = AdminServiceClient::new(self.pki.channel_as(self.auth.addr, None)?);
        let created = admin.create_service_account(bearer(request, &self.admin_token().await?)).await?;
        Ok(created.into_inner().client_secret)
    }

    /// IssueServiceToken for `name` over a connection presenting
    /// `identity`'s certificate (or none), for `audience` ("" the default).
    async fn issue(&self, name: &str, secret: &str, identity: Option<&str>, audience: &str) -> Result<String, Status> {
        let request = IssueServiceTokenRequest {
            client_id: name.into(),
            client_secret: secret.into(),
            audience: audience.into(),
            ..Default::default()
        };
        let mut client = self.auth_as(identity).map_err(|e| Status::unknown(e.to_string()))?;
        Ok(client.issue_service_token(request).await?.into_inner().access_token)
    }

    /// ListDocuments on the resource service with `token`, over a
    /// connection presenting `identity`'s certificate (or none).
    async fn list(&self, identity: Option<&str>, token: &str) -> Result<(), Status> {
        let channel = self.pki.channel_as(self.resource.addr, identity).map_err(|e| Status::unknown(e.to_string()))?;
        ResourceServiceClient::new(channel).list_documents(bearer(ListDocumentsRequest::default(), token)).await?;
        Ok(())
    }

    /// The thumbprint a token bound to `identity`'s certificate carries.
    fn x5t(&self, identity: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.pki.thumbprint(identity))
    }

    fn http(&self) -> SocketAddr {
        self.auth.http_addr.unwrap_or(self.auth.addr)
    }
}

type TestError = Box<dyn std::error::Error + Send + Sync>;

/// The token's `cnf` claim (`Value::Null` when unbound).
fn cnf(token: &str) -> Result<Value, TestError> {
    let payload = token.split('.').nth(1).ok_or("not a JWT")?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?;
    Ok(claims["cnf"].clone())
}

fn assert_mismatch(refused: Result<(), Status>, over: &str) {
    let refused = refused.err().unwrap_or_else(|| panic!("a bound token was accepted over {over}"));
    assert_eq!(
        (refused.code(), refused.message()),
        (Code::Unauthenticated, "token bound to another client certificate"),
        "over {over}"
    );
    assert_eq!(reason(&refused).as_deref(), Some("CERTIFICATE_MISMATCH"), "over {over}");
}

#[tokio::test]
async fn cb_02_a_service_token_asked_for_over_mtls_is_bound_to_that_certificate_and_works_only_over_it() -> TestResult {
    let stack = Mtls::start().await?;
    let secret = stack.account("bound-reader", CertificateBinding::Required).await?;

    let token = stack.issue("bound-reader", &secret, Some("client"), "").await?;
    assert_eq!(cnf(&token)?, serde_json::json!({ "x5t#S256": stack.x5t("client") }));
    stack.list(Some("client"), &token).await?;
    assert_mismatch(stack.list(Some("other"), &token).await, "another client's certificate");
    assert_mismatch(stack.list(None, &token).await, "a connection without one");

    // Required: without a certificate, no token at all, though the secret
    // is right.
    let refused = stack.issue("bound-reader", &secret, None, "").await.err().ok_or("issued without a certificate")?;
    assert_eq!((refused.code(), refused.message()), (Code::PermissionDenied, "requires a client certificate"));
    assert_eq!(reason(&refused).as_deref(), Some("CLIENT_CERT_REQUIRED"));
    // A wrong secret is told as a wrong secret, with or without one.
    for identity in [None, Some("client")] {
        let wrong = stack.issue("bound-reader", "not-the-secret", identity, "").await.err().ok_or("wrong secret")?;
        assert_eq!((wrong.code(), reason(&wrong).as_deref()), (Code::Unauthenticated, Some("INVALID_CREDENTIALS")));
    }
    Ok(())
}

#[tokio::test]
async fn an_optional_binding_binds_only_over_mtls_and_an_account_with_binding_off_gets_bearer_tokens() -> TestResult {
    let stack = Mtls::start().await?;
    let optional = stack.account("optional-reader", CertificateBinding::Unspecified).await?;
    let off = stack.account("bearer-reader", CertificateBinding::Off).await?;

    let bound = stack.issue("optional-reader", &optional, Some("other"), "").await?;
    assert_eq!(cnf(&bound)?, serde_json::json!({ "x5t#S256": stack.x5t("other") }));
    stack.list(Some("other"), &bound).await?;
    assert_mismatch(stack.list(Some("client"), &bound).await, "another client's certificate");

    let bearer_token = stack.issue("optional-reader", &optional, None, "").await?;
    assert_eq!(cnf(&bearer_token)?, Value::Null);
    let unbound = stack.issue("bearer-reader", &off, Some("client"), "").await?;
    assert_eq!(cnf(&unbound)?, Value::Null);
    for token in [&bearer_token, &unbound] {
        for identity in [None, Some("client"), Some("other")] {
            stack.list(identity, token).await?;
        }
    }

    // The admin API lists each account's binding; the bootstrapped one
    // kept the default.
    let mut admin = AdminServiceClient::new(stack.pki.channel_as(stack.auth.addr, None)?);
    let listed =
        admin.list_service_accounts(bearer(ListServiceAccountsRequest {}, &stack.admin_token().await?)).await?;
    let bindings: Vec<(String, CertificateBinding)> =
        listed.into_inner().accounts.into_iter().map(|a| (a.name.clone(), a.certificate_binding())).collect();
    assert_eq!(
        bindings,
        [
            ("bearer-reader".to_owned(), CertificateBinding::Off),
            ("optional-reader".to_owned(), CertificateBinding::Optional),
            (RESOURCE_CLIENT_ID.to_owned(), CertificateBinding::Optional),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn introspection_reports_a_bound_tokens_cnf_and_takes_a_bound_caller_only_over_its_certificate() -> TestResult {
    let stack = Mtls::start().await?;
    let secret = stack.account("inspector", CertificateBinding::Required).await?;
    let subject = stack.issue("inspector", &secret, Some("client"), "").await?;
    let caller = stack.issue("inspector", &secret, Some("client"), ADMIN_AUDIENCE).await?;

    // gRPC: the bound caller over its certificate; the answer's cnf.
    let ask = || bearer(IntrospectRequest { token: subject.clone() }, &caller);
    let answer = stack.auth_as(Some("client"))?.introspect(ask()).await?.into_inner();
    assert!(answer.active);
    assert_eq!(answer.cnf.map(|c| c.x5t_s256), Some(stack.x5t("client")));
    let refused = stack.auth_as(Some("other"))?.introspect(ask()).await.err().ok_or("a bound caller elsewhere")?;
    assert_eq!(reason(&refused).as_deref(), Some("CERTIFICATE_MISMATCH"));

    // HTTP (RFC 7662 with RFC 8705 §3.2's member), over HTTPS.
    let form = format!("token={subject}");
    let post = |identity: Option<&'static str>| {
        let (form, caller) = (form.clone(), caller.clone());
        let tls = stack.pki.rustls(identity);
        let addr = stack.http();
        async move {
            let ask = Ask::method("POST", "/oauth2/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", format!("Bearer {caller}"))
                .body(form);
            http1::send_tls(addr, tls.map_err(|e| anyhow::anyhow!(e))?, "localhost", ask).await
        }
    };
    let answer = post(Some("client")).await?;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let body = answer.json()?;
    assert_eq!(
        (body["active"].as_bool(), &body["cnf"]),
        (Some(true), &serde_json::json!({"x5t#S256": stack.x5t("client")}))
    );
    for identity in [None, Some("other")] {
        let answer = post(identity).await?;
        assert_eq!((answer.status.as_u16(), answer.header("www-authenticate")), (401, "Bearer"), "over {identity:?}");
    }
    Ok(())
}

#[tokio::test]
async fn the_http_token_endpoint_binds_client_credentials_tokens_to_the_certificate_too() -> TestResult {
    let stack = Mtls::start().await?;
    let secret = stack.account("http-reader", CertificateBinding::Required).await?;
    let basic = format!("Basic {}", STANDARD.encode(format!("http-reader:{secret}")));
    let token = |identity: Option<&'static str>| {
        let tls = stack.pki.rustls(identity);
        let (addr, basic) = (stack.http(), basic.clone());
        async move {
            let ask = Ask::method("POST", "/oauth2/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", basic)
                .body("grant_type=client_credentials");
            http1::send_tls(addr, tls.map_err(|e| anyhow::anyhow!(e))?, "localhost", ask).await
        }
    };
    let issued: Answer = token(Some("client")).await?;
    assert_eq!(issued.status, 200, "{}", String::from_utf8_lossy(&issued.body));
    let access = issued.json()?["access_token"].as_str().ok_or("no access_token")?.to_owned();
    assert_eq!(cnf(&access)?, serde_json::json!({ "x5t#S256": stack.x5t("client") }));
    stack.list(Some("client"), &access).await?;
    assert_mismatch(stack.list(Some("other"), &access).await, "another client's certificate");

    let refused = token(None).await?;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()?["error"], "unauthorized_client");
    Ok(())
}
