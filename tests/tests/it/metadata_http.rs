//! The authorization server metadata (RFC 8414) on the auth service's HTTP
//! listener: one document at the RFC 8414 path and at OpenID Discovery's,
//! holding what authpair does and nothing it does not, and checked by
//! Authlib's validator.

use std::collections::BTreeMap;

use authpair_proto::resource::v1::GetMyProfileRequest;
use authpair_tests::{TestApp, TestResult, authlib, http1};
use serde_json::{Value, json};

const METADATA: &str = "/.well-known/oauth-authorization-server";
const DISCOVERY: &str = "/.well-known/openid-configuration";

#[tokio::test]
async fn both_well_known_paths_serve_one_document_with_the_token_endpoint_and_no_id_token_member() -> TestResult {
    let app = TestApp::spawn().await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let answer = http1::get(http, METADATA).await?;
    assert_eq!((answer.status.as_u16(), answer.header("content-type")), (200, "application/json"));
    let document = answer.json()?;
    assert_eq!(http1::get(http, DISCOVERY).await?.json()?, document);
    let base = app.auth_server.http_url();
    assert_eq!(document["issuer"], authpair_tests::ISSUER);
    assert_eq!(document["token_endpoint"], format!("{base}/oauth2/token"));
    assert_eq!(document["jwks_uri"], format!("{base}/.well-known/jwks.json"));
    assert_eq!(document["introspection_endpoint"], format!("{base}/oauth2/introspect"));
    assert_eq!(document["response_types_supported"], json!(["none"]));
    assert_eq!(
        document["grant_types_supported"],
        json!(["password", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"])
    );
    assert_eq!(
        document["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
    );
    assert_eq!(
        document["token_endpoint_auth_signing_alg_values_supported"],
        json!(["EdDSA", "ES256", "RS256", "PS256"])
    );
    assert_eq!(document["introspection_endpoint_auth_methods_supported"], json!(["Bearer"]));
    let scopes = document["scopes_supported"].as_array().ok_or("no scopes_supported")?;
    assert!(scopes.contains(&json!("tokens:introspect")), "{document}");
    let names: Vec<&str> = document.as_object().ok_or("not an object")?.keys().map(String::as_str).collect();
    assert!(!names.iter().any(|n| n.starts_with("id_token") || n.starts_with("userinfo")), "{names:?}");
    assert!(document.get("authorization_endpoint").is_none(), "{document}");
    Ok(())
}

#[tokio::test]
async fn every_grant_the_metadata_lists_is_served_by_its_token_endpoint() -> TestResult {
    let app = TestApp::spawn().await?;
    let http = app.auth_server.http_addr.ok_or("no HTTP listener")?;
    let document = http1::get(http, METADATA).await?.json()?;
    let path = document["token_endpoint"]
        .as_str()
        .and_then(|url| url.strip_prefix(&app.auth_server.http_url()))
        .ok_or("token_endpoint is not on the listener")?
        .to_owned();
    for grant in document["grant_types_supported"].as_array().ok_or("no grant_types_supported")? {
        let grant = grant.as_str().ok_or("not a string")?;
        let ask = http1::Ask::method("POST", &path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type={grant}"));
        let error = http1::send(http, ask).await?.json()?["error"].clone();
        // Refused for what it lacks, never for its grant type.
        assert_ne!(error, Value::from("unsupported_grant_type"), "{grant}");
    }
    Ok(())
}

#[tokio::test]
async fn authlib_finds_the_metadata_valid_with_the_public_url_as_issuer() -> TestResult {
    const TEST: &str = "metadata_http::authlib";
    if !authlib::available_or_skip(TEST)? {
        return Ok(());
    }
    // Authlib requires an https issuer (RFC 8414 §2). The issuer is the
    // public URL unless --issuer says otherwise, and the resource service
    // learns it from the auth service.
    let public_url = "https://auth.example";
    let app = TestApp::spawn_with(
        |a| {
            a.issuer = None;
            a.public_url = Some(public_url.into());
        },
        |_| {},
    )
    .await?;
    let url = format!("{}{METADATA}", app.auth_server.http_url());
    assert_eq!(authlib::metadata_failures(&url).await?, BTreeMap::new());
    let document = http1::get(app.auth_server.http_addr.ok_or("no HTTP listener")?, METADATA).await?.json()?;
    assert_eq!(document["issuer"], public_url);
    // Its tokens carry it, and the resource service takes them.
    let token = app.root_token().await?;
    let profile = app.resource.clone().get_my_profile(authpair_tests::bearer(GetMyProfileRequest {}, &token)).await?;
    assert_eq!(profile.into_inner().username, authpair_tests::ADMIN_USERNAME);
    Ok(())
}
