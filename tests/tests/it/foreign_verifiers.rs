//! Proof with verifiers nobody here wrote: Node's jose and Python's PyJWT,
//! fed only the HTTP documents, accept a fresh access token and one signed
//! by a rotated key once it signs, and refuse a tampered one.

use std::time::Duration;

use authpair_proto::auth::v1::{LoginRequest, RotateSigningKeyRequest};
use authpair_tests::{TestApp, TestResult, bearer, foreign::Verifier, http1};

/// The `kid` in a token's header.
fn kid_of(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).ok()?;
    serde_json::from_slice::<serde_json::Value>(&header).ok()?["kid"].as_str().map(str::to_owned)
}

/// Whether the JWK set document lists `kid`.
async fn published(app: &TestApp, kid: &str) -> anyhow::Result<bool> {
    let http = app.auth_server.http_addr.ok_or_else(|| anyhow::anyhow!("no HTTP listener"))?;
    let jwks = http1::get(http, "/.well-known/jwks.json").await?.json()?;
    Ok(jwks["keys"].as_array().into_iter().flatten().any(|k| k["kid"] == kid))
}

/// Logs `username` in until the token is signed by `kid`: the new key
/// signs once the publish delay has passed. Each round is a real login,
/// paced by an interval; at most 10 s.
async fn token_signed_by(app: &TestApp, username: &str, password: &str, kid: &str) -> anyhow::Result<String> {
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        pace.tick().await;
        let request = LoginRequest { username: username.into(), password: password.into(), audience: String::new() };
        let token = app.auth.clone().login(request).await?.into_inner().access_token;
        if kid_of(&token).as_deref() == Some(kid) {
            return Ok(token);
        }
    }
    anyhow::bail!("no token signed by {kid} within 10 s")
}

/// The scenario, for one verifier: fresh, rotated, tampered.
async fn accepts_what_authpair_signs_and_refuses_a_tampered_token(verifier: Verifier, test: &str) -> TestResult {
    if !verifier.available_or_skip(test)? {
        return Ok(());
    }
    let app = TestApp::spawn_with(|a| a.key_publish_delay = Duration::from_secs(2), |_| {}).await?;
    let base = app.auth_server.http_url();
    let discovery =
        http1::get(app.auth_server.http_addr.ok_or("no HTTP listener")?, "/.well-known/openid-configuration")
            .await?
            .json()?;
    let url = match verifier {
        Verifier::Jose => discovery["jwks_uri"].as_str().ok_or("no jwks_uri")?.to_owned(),
        Verifier::PyJwt => format!("{base}/.well-known/openid-configuration"),
    };
    let verify = |token: String| {
        let url = url.clone();
        async move { verifier.verify(&url, authpair_tests::ISSUER, "authpair", &token).await }
    };

    let user = app.create_user("rita", "rita-password", &[]).await?;
    let fresh = app.login("rita", "rita-password").await?.access_token;
    let first_kid = kid_of(&fresh).ok_or("no kid")?;
    assert_eq!(verify(fresh.clone()).await?, format!("valid sub={} kid={first_kid}", user.id));

    // A signature byte changed: refused.
    let (signed, signature) = fresh.rsplit_once('.').ok_or("not a JWS")?;
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{signed}.{flipped}{}", &signature[1..]);
    let refused = match verifier {
        Verifier::Jose => "invalid ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        Verifier::PyJwt => "invalid InvalidSignatureError",
    };
    assert_eq!(verify(tampered).await?, refused);

    // A rotation: the new key is in the document at once, and signs after
    // the publish delay; its tokens verify, and so do the old key's.
    let admin = app.admin_token().await?;
    let rotated = app.admin.clone().rotate_signing_key(bearer(RotateSigningKeyRequest {}, &admin)).await?.into_inner();
    assert!(published(&app, &rotated.kid).await?, "the new key is not in the JWK set document");
    let after = token_signed_by(&app, "rita", "rita-password", &rotated.kid).await?;
    assert_eq!(verify(after).await?, format!("valid sub={} kid={}", user.id, rotated.kid));
    assert_eq!(verify(fresh).await?, format!("valid sub={} kid={first_kid}", user.id));
    Ok(())
}

#[tokio::test]
async fn node_jose_verifies_authpair_tokens_across_a_rotation_and_refuses_a_tampered_one() -> TestResult {
    accepts_what_authpair_signs_and_refuses_a_tampered_token(Verifier::Jose, "foreign_verifiers::node_jose").await
}

#[tokio::test]
async fn python_pyjwt_verifies_authpair_tokens_across_a_rotation_and_refuses_a_tampered_one() -> TestResult {
    accepts_what_authpair_signs_and_refuses_a_tampered_token(Verifier::PyJwt, "foreign_verifiers::python_pyjwt").await
}
