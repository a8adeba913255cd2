//! What an access token looks like on the wire: RFC 9068's claims and no
//! more than authorization needs, compact identifiers, and tokens of the
//! longer form (`nbf`, a UUID `jti`, a key stored with its whole RFC 7638
//! thumbprint as `kid`) accepted until they expire.

use authpair_proto::{auth::v1::RotateSigningKeyRequest, resource::v1::GetMyProfileRequest};
use authpair_tests::{
    ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, TestResult, auth_database, bearer, channel, open_signing_key,
    resource_config, start_resource, stored_signing_keys,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A token's header and claims.
fn decoded(token: &str) -> anyhow::Result<(Value, Value)> {
    let mut parts = token.split('.');
    let mut next = || -> anyhow::Result<Value> {
        let part = parts.next().ok_or_else(|| anyhow::anyhow!("not three segments"))?;
        Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part)?)?)
    };
    Ok((next()?, next()?))
}

fn is_base64url(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[tokio::test]
async fn a_login_token_is_compact_and_keeps_every_claim_rfc_9068_requires() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.root_token().await?;
    let (header, claims) = decoded(&token)?;
    assert_eq!((&header["alg"], &header["typ"]), (&"EdDSA".into(), &"at+jwt".into()), "{header}");
    let kid = header["kid"].as_str().unwrap_or_default();
    assert!(kid.len() == 12 && is_base64url(kid), "kid {kid:?}");
    for required in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        assert!(claims.get(required).is_some(), "RFC 9068 requires {required}: {claims}");
    }
    for kept in ["gen", "preferred_username", "roles", "scope", "plan"] {
        assert!(claims.get(kept).is_some(), "{kept}: {claims}");
    }
    assert_eq!(claims.get("nbf"), None, "nbf would equal iat");
    let jti = claims["jti"].as_str().unwrap_or_default();
    assert!(jti.len() == 22 && is_base64url(jti), "jti {jti:?}");
    assert_eq!(URL_SAFE_NO_PAD.decode(jti)?.len(), 16);
    // The admin: its username, the admin role and its four scopes, under an
    // issuer of 8 characters; each 3 characters of issuer beyond add 4.
    let for_issuer = (authpair_tests::ISSUER.len() - 8).div_ceil(3) * 4;
    assert!(token.len() <= 548 + for_issuer, "{} characters", token.len());

    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?.into_inner();
    assert_eq!((profile.username.as_str(), profile.roles.as_slice()), (ADMIN_USERNAME, &["admin".to_owned()][..]));

    // A viewer's token, what a typical user holds, is shorter still (each 3
    // characters of username add 4 to it).
    let (_, viewer) = app.user_with_token("alice", &["viewer"]).await?;
    assert!(viewer.len() <= 520 + for_issuer, "{} characters", viewer.len());

    // A rotated-in key gets the short kid too.
    let admin = app.admin_token().await?;
    let rotated = app.admin.clone().rotate_signing_key(bearer(RotateSigningKeyRequest {}, &admin)).await?;
    let rotated = rotated.into_inner();
    assert!(rotated.kid.len() == 12 && is_base64url(&rotated.kid), "{}", rotated.kid);
    assert_eq!(rotated.previous_kid, kid);
    Ok(())
}

/// A database whose signing key is stored under its whole thumbprint (the
/// longer `kid`): the key keeps that kid, signs under it, and a resource
/// service started against it accepts its tokens; its nbf-carrying forged
/// twin verifies too.
#[tokio::test]
async fn a_key_stored_with_its_whole_thumbprint_as_kid_keeps_it_and_its_tokens_verify() -> TestResult {
    let mut app = TestApp::spawn().await?;
    let (user, _) = app.user_with_token("lina", &["viewer"]).await?;
    let rows = stored_signing_keys(&app.auth_config).await?;
    assert_eq!(rows.len(), 1);
    let (short, stored) = &rows[0];
    let pem = open_signing_key(&app.auth_config, short, stored)?;
    let key = authpair_claims::SigningKey::from_pkcs8_pem(pem.expose_secret())?;
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, key.public_jwk().x);
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    assert_eq!((short.len(), thumbprint.len()), (12, 43));
    assert!(thumbprint.starts_with(short.as_str()));

    // The row as a database written with whole-thumbprint kids holds it:
    // the kid, and the key sealed under that kid.
    app.auth_server.stop().await?;
    let master = app.auth_config.master_key_file.clone().ok_or("the tests seal keys with a master key")?;
    let resealed = auth_service::keys::sealing::MasterKey::read_file(&master)?.seal(&thumbprint, &pem)?;
    {
        let mut db = auth_database(&app.auth_config, "rw").await?;
        sqlx::query("UPDATE signing_keys SET kid = $1, private_key_pem = $2 WHERE kid = $3")
            .bind(&thumbprint)
            .bind(&resealed)
            .bind(short)
            .execute(&mut db)
            .await?;
    }
    app.restart_auth().await?;
    assert_eq!(
        stored_signing_keys(&app.auth_config).await?.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        [thumbprint.as_str()]
    );

    let token = app.login("lina", "lina-password").await?.access_token;
    assert_eq!(decoded(&token)?.0["kid"], Value::from(thumbprint.as_str()));
    let forger = app.forger().await?;
    assert_eq!(forger.kid, thumbprint);
    let with_nbf = forger.sign(&forger.header(), &forger.claims(&user.id, &["viewer"]));
    assert!(decoded(&with_nbf)?.1.get("nbf").is_some());

    let resource = start_resource(resource_config(&app.auth_server, app.data_dir.path().join("resource-2"))).await?;
    let mut client =
        authpair_proto::resource::v1::resource_service_client::ResourceServiceClient::new(channel(resource.addr)?);
    for token in [&token, &with_nbf] {
        let profile = client.get_my_profile(bearer(GetMyProfileRequest {}, token)).await?.into_inner();
        assert_eq!(profile.subject, user.id);
    }
    // The admin API, on the restarted auth service, takes the key's tokens too.
    let admin = app.login_for(ADMIN_USERNAME, ADMIN_PASSWORD, authpair_tests::ADMIN_AUDIENCE).await?.access_token;
    app.admin.clone().list_users(bearer(authpair_proto::auth::v1::ListUsersRequest::default(), &admin)).await?;
    Ok(())
}
