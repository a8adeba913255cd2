//! Keys instead of secrets (RFC 7523 `private_key_jwt`; docs/security.md
//! CA-01): a service account registers public keys and gets its token with
//! a short JWT it signs, over gRPC and the HTTP token endpoint; every
//! malformed, misdirected, long-lived or replayed assertion is refused,
//! a replay on another instance sharing the database included.

use authpair_proto::{
    auth::v1::{
        AddServiceAccountKeyRequest, CreateServiceAccountRequest, IssueServiceTokenRequest, ListServiceAccountsRequest,
        RemoveServiceAccountKeyRequest, auth_service_client::AuthServiceClient,
    },
    resource::v1::ListDocumentsRequest,
};
use authpair_tests::{
    ISSUER, TestApp, TestResult, bearer, channel,
    http1::{self, Ask},
    now, reason, start_auth_at,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tonic::{Code, Status};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A key pair the test holds: the private half signs, the public half is
/// registered as a JWK.
struct Signer {
    algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl Signer {
    fn ed25519(kid: &str) -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let x = URL_SAFE_NO_PAD.encode(key.public_key_raw());
        Ok(Self {
            algorithm: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(&key.serialize_der()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid}),
        })
    }

    /// A P-256 key whose JWK has no kid: its id is its RFC 7638 thumbprint.
    fn p256() -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let point = key.public_key_raw();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..65]));
        Ok(Self {
            algorithm: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(&key.serialize_der()),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
        })
    }

    fn kid(&self) -> Option<String> {
        self.jwk["kid"].as_str().map(str::to_owned)
    }

    /// Claims a good assertion for `client` carries: for this auth service,
    /// a minute long, a new jti.
    fn claims(client: &str) -> Value {
        json!({
            "iss": client, "sub": client, "aud": ISSUER,
            "iat": now(), "exp": now() + 60, "jti": uuid::Uuid::new_v4().to_string(),
        })
    }

    fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        self.sign_as(self.kid(), claims)
    }

    fn sign_as(&self, kid: Option<String>, claims: &Value) -> anyhow::Result<String> {
        let header = Header { kid, ..Header::new(self.algorithm) };
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// Creates service account `name` with `keys` (no secret), scope
/// documents:read; returns what CreateServiceAccount answered as secret.
async fn account_with_keys(app: &TestApp, name: &str, keys: &[&Signer]) -> Result<String, Status> {
    let request = CreateServiceAccountRequest {
        name: name.into(),
        scopes: vec!["documents:read".into()],
        public_keys: keys.iter().map(|k| k.jwk.to_string()).collect(),
        ..Default::default()
    };
    let created = app.admin.clone().create_service_account(bearer(request, &app.admin_token().await?)).await?;
    Ok(created.into_inner().client_secret)
}

async fn issue(auth: &AuthServiceClient<tonic::transport::Channel>, assertion: &str) -> Result<String, Status> {
    let request = IssueServiceTokenRequest {
        client_assertion_type: ASSERTION_TYPE.into(),
        client_assertion: assertion.into(),
        ..Default::default()
    };
    Ok(auth.clone().issue_service_token(request).await?.into_inner().access_token)
}

fn assert_refused(result: Result<String, Status>, case: &str) {
    let refused = result.err().unwrap_or_else(|| panic!("{case}: a token was issued"));
    assert_eq!(
        (refused.code(), refused.message(), reason(&refused).as_deref()),
        (Code::Unauthenticated, "invalid credentials", Some("INVALID_CREDENTIALS")),
        "{case}"
    );
}

#[tokio::test]
async fn a_service_account_with_registered_keys_gets_its_token_with_a_signed_assertion_and_has_no_secret() -> TestResult
{
    let app = TestApp::spawn().await?;
    let ed = Signer::ed25519("ed-1")?;
    let secret = account_with_keys(&app, "keyed", &[&ed]).await?;
    assert_eq!(secret, "", "an account with keys has no secret");

    let token = issue(&app.auth, &ed.sign(&Signer::claims("keyed"))?).await?;
    app.resource.clone().list_documents(bearer(ListDocumentsRequest::default(), &token)).await?;
    // No secret opens it, not even an empty one's hash.
    let by_secret =
        IssueServiceTokenRequest { client_id: "keyed".into(), client_secret: "anything".into(), ..Default::default() };
    assert_refused(
        app.auth.clone().issue_service_token(by_secret).await.map(|r| r.into_inner().access_token),
        "a secret",
    );

    // A second key, added by the admin API, with no kid of its own: its
    // thumbprint is its id, and the assertion names it.
    let ec = Signer::p256()?;
    let admin = app.admin_token().await?;
    let add = AddServiceAccountKeyRequest { name: "keyed".into(), jwk: ec.jwk.to_string() };
    let kid = app.admin.clone().add_service_account_key(bearer(add, &admin)).await?.into_inner().kid;
    assert_eq!(kid.len(), 43, "an RFC 7638 SHA-256 thumbprint, base64url");
    issue(&app.auth, &ec.sign_as(Some(kid.clone()), &Signer::claims("keyed"))?).await?;
    // An assertion naming no kid is tried against each key.
    issue(&app.auth, &ec.sign_as(None, &Signer::claims("keyed"))?).await?;
    let listed = app.admin.clone().list_service_accounts(bearer(ListServiceAccountsRequest {}, &admin)).await?;
    let keyed = listed.into_inner().accounts.into_iter().find(|a| a.name == "keyed").ok_or("not listed")?;
    let mut listed_ids = keyed.key_ids.clone();
    listed_ids.sort();
    let mut expected = vec!["ed-1".to_owned(), kid.clone()];
    expected.sort();
    assert_eq!(listed_ids, expected);

    // The HTTP token endpoint takes it too (RFC 7523 §2.2 form parameters).
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let form = format!(
        "grant_type=client_credentials&client_assertion_type={}&client_assertion={}",
        ASSERTION_TYPE.replace(':', "%3A"),
        ed.sign(&Signer::claims("keyed"))?
    );
    let ask =
        Ask::method("POST", "/oauth2/token").header("content-type", "application/x-www-form-urlencoded").body(form);
    let answer = http1::send(http, ask).await?;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let metadata = http1::get(http, "/.well-known/oauth-authorization-server").await?.json()?;
    assert!(
        metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .is_some_and(|m| m.contains(&json!("private_key_jwt")))
    );
    assert_eq!(
        metadata["token_endpoint_auth_signing_alg_values_supported"],
        json!(["EdDSA", "ES256", "RS256", "PS256"])
    );

    // A removed key opens nothing, at once.
    let remove = RemoveServiceAccountKeyRequest { name: "keyed".into(), kid };
    app.admin.clone().remove_service_account_key(bearer(remove, &admin)).await?;
    assert_refused(issue(&app.auth, &ec.sign_as(None, &Signer::claims("keyed"))?).await, "a removed key");
    Ok(())
}

#[tokio::test]
async fn ca_01_a_replayed_misdirected_long_lived_unsigned_hmac_or_impersonating_assertion_is_refused() -> TestResult {
    // Each refusal counts as a failed attempt for the account, as a wrong
    // secret does (brute_force.rs); here they must not add up to a delay.
    let app = TestApp::spawn_with(|auth| auth.throttle.free_failures = 100, |_| {}).await?;
    let ed = Signer::ed25519("ed-1")?;
    account_with_keys(&app, "keyed", &[&ed]).await?;
    account_with_keys(&app, "other", &[&Signer::ed25519("ed-2")?]).await?;

    // The control: this one is good, once.
    let good = ed.sign(&Signer::claims("keyed"))?;
    issue(&app.auth, &good).await?;
    assert_refused(issue(&app.auth, &good).await, "the same assertion again");
    let mut same_jti = Signer::claims("keyed");
    same_jti["jti"] = json!(payload(&good)?["jti"]);
    assert_refused(issue(&app.auth, &ed.sign(&same_jti)?).await, "a new assertion with a used jti");

    let with = |change: &dyn Fn(&mut Value)| -> anyhow::Result<String> {
        let mut claims = Signer::claims("keyed");
        change(&mut claims);
        ed.sign(&claims)
    };
    for (case, assertion) in [
        ("another server's aud", with(&|c| c["aud"] = json!("https://elsewhere.test"))?),
        ("no aud", with(&|c| drop(c.as_object_mut().map(|m| m.remove("aud"))))?),
        ("exp ten minutes ahead", with(&|c| c["exp"] = json!(now() + 600))?),
        ("exp past", with(&|c| c["exp"] = json!(now() - 120))?),
        ("no jti", with(&|c| drop(c.as_object_mut().map(|m| m.remove("jti"))))?),
        ("iss not sub", with(&|c| c["sub"] = json!("other"))?),
        (
            "another client's name",
            with(&|c| {
                c["iss"] = json!("other");
                c["sub"] = json!("other");
            })?,
        ),
    ] {
        assert_refused(issue(&app.auth, &assertion).await, case);
    }
    // alg none, and HS256 keyed with the public key (algorithm confusion).
    let claims = URL_SAFE_NO_PAD.encode(Signer::claims("keyed").to_string());
    let unsigned = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"ed-1"}"#));
    assert_refused(issue(&app.auth, &unsigned).await, "alg none");
    let public = ed.jwk["x"].as_str().unwrap_or_default().as_bytes().to_vec();
    let hmac = jsonwebtoken::encode(
        &Header { kid: Some("ed-1".into()), ..Header::new(Algorithm::HS256) },
        &Signer::claims("keyed"),
        &EncodingKey::from_secret(&public),
    )?;
    assert_refused(issue(&app.auth, &hmac).await, "HS256 with the public key");
    // A key the account never registered, under its kid or none.
    let stranger = Signer::ed25519("ed-1")?;
    assert_refused(issue(&app.auth, &stranger.sign(&Signer::claims("keyed"))?).await, "an unregistered key");
    assert_refused(issue(&app.auth, &stranger.sign_as(None, &Signer::claims("keyed"))?).await, "no kid");
    // The control still works with a fresh jti: nothing above locked it.
    issue(&app.auth, &ed.sign(&Signer::claims("keyed"))?).await?;
    Ok(())
}

#[tokio::test]
async fn ca_01_an_assertion_used_on_one_instance_is_refused_on_another_sharing_the_database() -> TestResult {
    let app = TestApp::spawn().await?;
    let ed = Signer::ed25519("ed-1")?;
    account_with_keys(&app, "keyed", &[&ed]).await?;
    let mut shared = app.auth_config.clone();
    if shared.shared.database_url.is_none() {
        let file = shared.shared.data_dir.join("auth.db");
        shared.shared.database_url = Some(format!("sqlite://{}?mode=rwc", file.display()).into());
    }
    let second = start_auth_at(authpair_tests::any_port(), shared).await?;
    let other = AuthServiceClient::new(channel(second.addr)?);

    let assertion = ed.sign(&Signer::claims("keyed"))?;
    issue(&app.auth, &assertion).await?;
    assert_refused(issue(&other, &assertion).await, "a replay on the second instance");
    let fresh = ed.sign(&Signer::claims("keyed"))?;
    issue(&other, &fresh).await?;
    assert_refused(issue(&app.auth, &fresh).await, "a replay on the first instance");
    Ok(())
}

#[tokio::test]
async fn a_private_key_or_a_key_of_another_kind_is_never_registered() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.admin_token().await?;
    account_with_keys(&app, "keyed", &[&Signer::ed25519("ed-1")?]).await?;
    let mut private = Signer::ed25519("ed-2")?.jwk;
    private["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let small_rsa = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]), "e": "AQAB", "kid": "rsa-1024"});
    for (case, jwk, says) in [
        ("a private key", private.to_string(), "register only the public key"),
        ("an HMAC secret", json!({"kty": "oct", "k": "c2VjcmV0"}).to_string(), "register only the public key"),
        ("RSA of 1024 bits", small_rsa.to_string(), "at least 2048 bits"),
        ("P-384", json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}).to_string(), "must be Ed25519"),
        ("not JSON", "ed25519".to_owned(), "must be a JWK"),
    ] {
        let add = AddServiceAccountKeyRequest { name: "keyed".into(), jwk };
        let refused = app.admin.clone().add_service_account_key(bearer(add, &admin)).await.err();
        let refused = refused.unwrap_or_else(|| panic!("{case}: registered"));
        assert_eq!(refused.code(), Code::InvalidArgument, "{case}: {refused:?}");
        assert!(refused.message().contains(says), "{case}: {}", refused.message());
    }
    Ok(())
}

fn payload(token: &str) -> anyhow::Result<Value> {
    let part = token.split('.').nth(1).ok_or_else(|| anyhow::anyhow!("not a JWT"))?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part)?)?)
}
