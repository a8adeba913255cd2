//! The auth service's HTTP listener: the JWK set and the discovery document
//! as standard JWT libraries fetch them, and nothing else (the metadata's
//! other members: `metadata_http.rs`; the token endpoint: `token_http.rs`).

use std::time::Duration;

use authpair_proto::auth::v1::{GetJwksRequest, RotateSigningKeyRequest};
use authpair_tests::{
    TestApp, TestResult, bearer,
    http1::{self, Ask},
};
use serde_json::{Value, json};

const JWKS: &str = "/.well-known/jwks.json";
const DISCOVERY: &str = "/.well-known/openid-configuration";

/// The keys GetJwks returns, in the JSON form the document has.
async fn grpc_keys(app: &TestApp) -> TestResult<Value> {
    let keys = app.auth.clone().get_jwks(GetJwksRequest {}).await?.into_inner().keys;
    let keys: Vec<Value> = keys
        .into_iter()
        .map(|k| json!({ "kty": k.kty, "crv": k.crv, "x": k.x, "kid": k.kid, "alg": k.alg, "use": k.r#use }))
        .collect();
    Ok(json!({ "keys": keys }))
}

/// `max-age` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<u64> {
    cache_control.split(',').find_map(|d| d.trim().strip_prefix("max-age=")).and_then(|n| n.parse().ok())
}

#[tokio::test]
async fn the_jwks_document_holds_the_keys_get_jwks_returns_as_json_cached_no_longer_than_the_publish_delay()
-> TestResult {
    let app = TestApp::spawn().await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let answer = http1::get(http, JWKS).await?;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), "application/json");
    let age = max_age(answer.header("cache-control"));
    assert!(age.is_some_and(|n| n <= app.auth_config.key_publish_delay.as_secs()), "{:?}", answer.headers);
    let document = answer.json()?;
    assert_eq!(document, grpc_keys(&app).await?);
    let key = &document["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"), &json!("sig"))
    );
    assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()), "{key}");
    Ok(())
}

#[tokio::test]
async fn a_short_publish_delay_shortens_the_max_age_and_a_rotated_key_appears_in_the_document_at_once() -> TestResult {
    let app = TestApp::spawn_with(|a| a.key_publish_delay = Duration::from_secs(3), |_| {}).await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let before = http1::get(http, JWKS).await?;
    assert_eq!(max_age(before.header("cache-control")), Some(3));
    let admin = app.admin_token().await?;
    let rotated = app.admin.clone().rotate_signing_key(bearer(RotateSigningKeyRequest {}, &admin)).await?.into_inner();
    let after = http1::get(http, JWKS).await?.json()?;
    let kids: Vec<&str> = after["keys"].as_array().into_iter().flatten().filter_map(|k| k["kid"].as_str()).collect();
    assert!(kids.contains(&rotated.kid.as_str()) && kids.contains(&rotated.previous_kid.as_str()), "{after}");
    assert_eq!(after, grpc_keys(&app).await?);
    Ok(())
}

#[tokio::test]
async fn the_discovery_document_names_the_issuer_the_jwks_uri_and_the_access_token_type() -> TestResult {
    let app = TestApp::spawn().await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let answer = http1::get(http, DISCOVERY).await?;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), "application/json");
    assert!(max_age(answer.header("cache-control")).is_some(), "{:?}", answer.headers);
    let document = answer.json()?;
    let base = app.auth_server.http_url();
    assert_eq!(document["issuer"], authpair_tests::ISSUER);
    assert_eq!(document["jwks_uri"], format!("{base}{JWKS}"));
    assert_eq!(document["introspection_endpoint"], format!("{base}/oauth2/introspect"));
    assert_eq!(document["token_types_supported"], json!(["at+jwt"]));
    assert_eq!(
        document["grant_types_supported"],
        json!(["password", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"])
    );
    // The URL it names serves the keys.
    let jwks_uri = document["jwks_uri"].as_str().unwrap_or_default();
    let path = jwks_uri.strip_prefix(&base).ok_or("jwks_uri is not on the listener")?;
    assert_eq!(http1::get(http, path).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn a_public_url_is_what_the_discovery_documents_urls_start_with() -> TestResult {
    let app = TestApp::spawn_with(|a| a.public_url = Some("https://auth.example.com".into()), |_| {}).await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let document = http1::get(http, DISCOVERY).await?.json()?;
    assert_eq!(document["jwks_uri"], "https://auth.example.com/.well-known/jwks.json");
    assert_eq!(document["token_endpoint"], "https://auth.example.com/oauth2/token");
    assert_eq!(document["introspection_endpoint"], "https://auth.example.com/oauth2/introspect");
    Ok(())
}

#[tokio::test]
async fn any_other_path_is_404_and_any_method_but_get_or_head_is_405_naming_the_allowed_ones() -> TestResult {
    let app = TestApp::spawn().await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    for path in
        ["/", "/.well-known/", "/.well-known/jwks.json/x", "/jwks.json", "/metrics", "/auth.v1.AuthService/GetJwks"]
    {
        assert_eq!(http1::get(http, path).await?.status, 404, "{path}");
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for path in [JWKS, DISCOVERY, "/.well-known/oauth-authorization-server"] {
            let answer = http1::send(http, Ask::method(method, path)).await?;
            assert_eq!(answer.status, 405, "{method} {path}");
            assert_eq!(answer.header("allow"), "GET,HEAD", "{method} {path}");
        }
    }
    for path in ["/oauth2/introspect", "/oauth2/token"] {
        let answer = http1::send(http, Ask::method("GET", path)).await?;
        assert_eq!((answer.status.as_u16(), answer.header("allow")), (405, "POST"), "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn head_answers_with_the_headers_of_get_and_no_body() -> TestResult {
    let app = TestApp::spawn().await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let answer = http1::send(http, Ask::method("HEAD", JWKS)).await?;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), "application/json");
    assert!(answer.body.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_request_head_larger_than_the_bound_is_refused_without_reaching_a_handler() -> TestResult {
    let app = TestApp::spawn().await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let answer = http1::send(http, Ask::get(JWKS).header("x-padding", "a".repeat(16 * 1024))).await?;
    assert_eq!(answer.status, 431);
    let mut many = Ask::get(JWKS);
    let names: Vec<String> = (0..40).map(|i| format!("x-h{i}")).collect();
    for name in &names {
        many = many.header(name, "1");
    }
    assert_eq!(http1::send(http, many).await?.status, 431);
    Ok(())
}

#[tokio::test]
async fn an_http_listen_address_already_taken_stops_the_start_with_an_error_naming_it() -> TestResult {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = taken.local_addr()?;
    let dir = tempfile::tempdir()?;
    let config = authpair_tests::AuthConfig { http_listen: Some(addr), ..authpair_tests::AuthConfig::new(dir.path()) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let error = auth_service::serve(listener, config, std::future::pending()).await.err().map(|e| e.to_string());
    assert_eq!(error, Some(format!("binding the HTTP listener (--http-listen) on {addr}")));
    Ok(())
}

#[tokio::test]
async fn with_tls_on_the_grpc_port_the_http_listener_speaks_tls_with_the_same_certificate() -> TestResult {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring, pki_types::CertificateDer};
    let dir = tempfile::tempdir()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &ca)?;
    let (cert_path, key_path) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;

    let data = tempfile::tempdir()?;
    let mut config = authpair_tests::AuthConfig::new(data.path());
    config.shared.serving.tls_cert = Some(cert_path);
    config.shared.serving.tls_key = Some(key_path);
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http_addr = http.local_addr()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = tokio::spawn(auth_service::serve_with_http(listener, Some(http), config, std::future::pending()));

    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca.der().to_vec()))?;
    let tls = ClientConfig::builder_with_provider(std::sync::Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = std::sync::Arc::new(tls);
    // The listener is bound already; the first answer waits for the start.
    let mut answer = http1::send_tls(http_addr, tls.clone(), "localhost", Ask::get(DISCOVERY)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while answer.is_err() && tokio::time::Instant::now() < deadline && !server.is_finished() {
        answer = http1::send_tls(http_addr, tls.clone(), "localhost", Ask::get(DISCOVERY)).await;
    }
    let document = answer?.json()?;
    assert_eq!(document["jwks_uri"], format!("https://{http_addr}{JWKS}"));
    let jwks = http1::send_tls(http_addr, tls, "localhost", Ask::get(JWKS)).await?;
    assert_eq!((jwks.status.as_u16(), jwks.header("content-type")), (200, "application/json"));
    // Plaintext HTTP gets no answer.
    assert!(http1::get(http_addr, JWKS).await.is_err());
    server.abort();
    Ok(())
}

/// The status line of the answer to `request`, written as is on a new connection.
async fn raw_status(http: std::net::SocketAddr, request: &str) -> TestResult<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(http).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut answer)).await??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn an_http_1_1_request_without_host_with_two_or_with_an_invalid_one_is_400_as_rfc_9112_requires() -> TestResult {
    let app = TestApp::spawn().await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    for path in [JWKS, "/nowhere"] {
        for headers in ["", "Host: a\r\nHost: a\r\n", "Host: a\r\nHost: b\r\n", "Host: a@b\r\n", "Host: a b\r\n"] {
            let request = format!("GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n");
            assert_eq!(raw_status(http, &request).await?, "HTTP/1.1 400", "{request:?}");
        }
    }
    // One valid Host is served; so is HTTP/1.0, which needs none.
    let one = format!("GET {JWKS} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(http, &one).await?, "HTTP/1.1 200");
    assert_eq!(raw_status(http, &format!("GET {JWKS} HTTP/1.0\r\n\r\n")).await?, "HTTP/1.0 200");
    Ok(())
}
