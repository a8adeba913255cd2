//! Every authentication failure is UNAUTHENTICATED, with a short message
//! naming the cause and a stable ErrorInfo reason. Row ids (`tf_01_…`) are
//! those of the threat model in docs/security.md.

use authpair_proto::resource::v1::{GetMyProfileRequest, GetMyProfileResponse, GetStatusRequest};
use authpair_tests::{Forger, TestApp, TestResult, bearer, now, reason, with_authorization};
use serde_json::{Value, json};
use tonic::{Code, Request, Status, metadata::MetadataValue};

async fn profile(app: &TestApp, request: Request<GetMyProfileRequest>) -> Result<GetMyProfileResponse, Status> {
    Ok(app.resource.clone().get_my_profile(request).await?.into_inner())
}

async fn profile_with(app: &TestApp, token: &str) -> Result<GetMyProfileResponse, Status> {
    profile(app, bearer(GetMyProfileRequest {}, token)).await
}

/// After an attack: the service still answers a plain call.
async fn still_serves(app: &TestApp) -> Result<(), Status> {
    app.resource.clone().get_status(GetStatusRequest {}).await.map(drop)
}

#[track_caller]
fn assert_unauthenticated<T: std::fmt::Debug>(result: Result<T, Status>, message: &str, expected_reason: &str) {
    match result {
        Ok(value) => panic!("expected UNAUTHENTICATED {message:?}, got OK {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            assert_eq!(status.message(), message);
            assert_eq!(reason(&status).as_deref(), Some(expected_reason));
        }
    }
}

/// Signs `claims` after `edit` changes them, with the real header.
fn signed(forger: &Forger, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut claims = forger.claims("mallory", &["admin"]);
    if let Some(map) = claims.as_object_mut() {
        edit(map);
    }
    forger.sign(&forger.header(), &claims)
}

fn with_header(forger: &Forger, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut header = forger.header();
    if let Some(map) = header.as_object_mut() {
        edit(map);
    }
    forger.sign(&header, &forger.claims("mallory", &["admin"]))
}

#[tokio::test]
async fn tm_01_a_call_without_a_token_is_unauthenticated_with_token_missing() -> TestResult {
    let app = TestApp::spawn().await?;
    assert_unauthenticated(
        profile(&app, Request::new(GetMyProfileRequest {})).await,
        "missing bearer token",
        "TOKEN_MISSING",
    );
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tm_02_and_tm_04_bad_authorization_headers_are_unauthenticated() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.root_token().await?;

    let mut two = bearer(GetMyProfileRequest {}, &token);
    two.metadata_mut().append("authorization", MetadataValue::try_from(format!("Bearer {token}"))?);
    assert_unauthenticated(profile(&app, two).await, "more than one authorization header", "TOKEN_MALFORMED");

    for value in ["Basic dXNlcjpwYXNz", "Token abc", &format!("Bearer{token}")] {
        let request = with_authorization(GetMyProfileRequest {}, value);
        assert_unauthenticated(profile(&app, request).await, "authorization scheme must be Bearer", "TOKEN_MALFORMED");
    }
    for value in [format!("Bearer  {token}"), "Bearer ".to_owned(), format!("Bearer {token}, Bearer {token}")] {
        let request = with_authorization(GetMyProfileRequest {}, &value);
        assert_unauthenticated(profile(&app, request).await, "malformed token", "TOKEN_MALFORMED");
    }
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let lower = with_authorization(GetMyProfileRequest {}, &format!("bearer {token}"));
    assert_eq!(profile(&app, lower).await?.username, "root");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tf_10_malformed_tokens_are_unauthenticated_and_never_internal() -> TestResult {
    let app = TestApp::spawn().await?;
    let real = app.root_token().await?;
    let mut parts = real.split('.');
    let (h, p, s) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let cases = [
        "not-a-jwt".to_owned(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}.{s}.{s}"),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}.{s}=="),
        format!("{h}..{s}"),
        format!(".{p}.{s}"),
        format!("{h}.{p}.+{}", s.get(1..).unwrap_or("")),
        format!("{h}.{p}./{}", s.get(1..).unwrap_or("")),
        format!(" {h}.{p}.{s}"),
        "e30.e30.e30".to_owned(),
        format!(r#"{{"payload":"{p}","signatures":[{{"protected":"{h}","signature":"{s}"}}]}}"#),
    ];
    for token in cases {
        let result = profile_with(&app, &token).await;
        let status = result.err().ok_or(format!("a malformed token was accepted: {token}"))?;
        assert_eq!(status.code(), Code::Unauthenticated, "{token}: {status:?}");
        assert!(
            ["malformed token", "invalid token signature"].contains(&status.message()),
            "{token}: {}",
            status.message()
        );
    }
    // The service still serves afterwards.
    assert_eq!(profile_with(&app, &real).await?.username, "root");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tf_02_a_payload_edited_under_a_kept_signature_is_rejected() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, viewer) = app.user_with_token("victor", &["viewer"]).await?;
    let forger = app.forger().await?;
    let mut parts = viewer.split('.');
    let (header, _, signature) = (parts.next().unwrap_or(""), parts.next(), parts.next().unwrap_or(""));
    let elevated = forger.sign(&forger.header(), &forger.claims("victor", &["admin"]));
    let payload = elevated.split('.').nth(1).unwrap_or("");
    let tampered = format!("{header}.{payload}.{signature}");
    assert_unauthenticated(profile_with(&app, &tampered).await, "invalid token signature", "TOKEN_INVALID");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tf_01_and_tf_08_any_algorithm_but_eddsa_is_rejected() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    let algorithms = ["none", "None", "NONE", "nOnE", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512"];
    for alg in algorithms.into_iter().chain(["ES256", "ES384", "PS256", "PS512", "Ed25519", "eddsa"]) {
        let token = with_header(&forger, |h| {
            h.insert("alg".into(), json!(alg));
        });
        assert_unauthenticated(profile_with(&app, &token).await, "unsupported token algorithm", "TOKEN_INVALID");
        // alg none with the signature stripped.
        let stripped = format!("{}.", token.rsplit_once('.').map(|(head, _)| head).unwrap_or(""));
        assert_unauthenticated(profile_with(&app, &stripped).await, "unsupported token algorithm", "TOKEN_INVALID");
    }
    // The real EdDSA header and claims with the signature stripped: a null
    // signature is not a signature.
    let real = forger.sign(&forger.header(), &forger.claims("mallory", &["admin"]));
    let stripped = format!("{}.", real.rsplit_once('.').map(|(head, _)| head).unwrap_or(""));
    assert_unauthenticated(profile_with(&app, &stripped).await, "invalid token signature", "TOKEN_INVALID");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tf_09_psychic_zero_and_identity_signatures_are_rejected_under_any_algorithm() -> TestResult {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    let real = forger.sign(&forger.header(), &forger.claims("mallory", &["admin"]));
    let (signed_part, _) = real.rsplit_once('.').ok_or("not a JWT")?;
    let (_, payload) = signed_part.split_once('.').ok_or("not a JWT")?;
    let es256 = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "typ": "at+jwt", "kid": forger.kid}).to_string());
    // R = the identity point (encoded as y = 1), s = 0: the Ed25519 analogue
    // of CVE-2022-21449, which a verifier that skips checks would accept.
    let mut identity = [0u8; 64];
    identity[0] = 1;
    let signatures = [
        ("64 zero bytes", URL_SAFE_NO_PAD.encode([0u8; 64])),
        ("identity R, zero s", URL_SAFE_NO_PAD.encode(identity)),
        ("DER r = s = 0", "MAYCAQACAQA".to_owned()),
    ];
    for (what, signature) in &signatures {
        let eddsa = format!("{signed_part}.{signature}");
        assert_unauthenticated(profile_with(&app, &eddsa).await, "invalid token signature", "TOKEN_INVALID");
        let es = format!("{es256}.{payload}.{signature}");
        let result = profile_with(&app, &es).await;
        assert_unauthenticated(result, "unsupported token algorithm", "TOKEN_INVALID");
        eprintln!("{what}: refused under EdDSA and ES256");
    }
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tf_07_an_unknown_or_hostile_kid_is_only_a_failed_lookup() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    let huge = "k".repeat(4000);
    let hostile =
        ["unknown", "../../../../../../dev/null", "/dev/null", "\u{0}", "%00", "x' UNION SELECT '1';--", "|sleep 10"];
    for kid in hostile.into_iter().chain([huge.as_str()]) {
        let token = with_header(&forger, |h| {
            h.insert("kid".into(), json!(kid));
        });
        assert_unauthenticated(profile_with(&app, &token).await, "unknown signing key", "TOKEN_INVALID");
        // With HS256 the kid is never looked up as a secret: the algorithm
        // is refused first.
        let token = with_header(&forger, |h| {
            h.insert("kid".into(), json!(kid));
            h.insert("alg".into(), json!("HS256"));
        });
        assert_unauthenticated(profile_with(&app, &token).await, "unsupported token algorithm", "TOKEN_INVALID");
    }
    for kid in [json!(7), json!(["a"]), json!(null)] {
        let token = with_header(&forger, |h| {
            h.insert("kid".into(), kid);
        });
        assert_unauthenticated(profile_with(&app, &token).await, "malformed token", "TOKEN_MALFORMED");
    }
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tf_11_a_token_type_other_than_at_jwt_is_rejected() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    for typ in ["JWT", "refresh+jwt", "", "application/jwt"] {
        let token = with_header(&forger, |h| {
            h.insert("typ".into(), json!(typ));
        });
        assert_unauthenticated(profile_with(&app, &token).await, "unsupported token type", "TOKEN_INVALID");
    }
    let untyped = with_header(&forger, |h| {
        h.remove("typ");
    });
    assert_unauthenticated(profile_with(&app, &untyped).await, "malformed token", "TOKEN_MALFORMED");
    // Media-type form, any case, is accepted (RFC 9068 §4).
    let media = with_header(&forger, |h| {
        h.insert("typ".into(), json!("application/AT+JWT"));
    });
    assert_eq!(profile_with(&app, &media).await?.subject, "mallory");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tf_05_tf_06_tf_12_key_material_urls_and_crit_in_the_header_are_rejected() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    // A listener the header URLs point at: nothing may ever connect to it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bait = listener.local_addr()?;
    let headers = [
        ("jwk", json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})),
        ("jku", json!(format!("http://{bait}/jwks.json"))),
        ("x5u", json!(format!("http://{bait}/cert.pem"))),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["x-foo"])),
        ("crit", json!([])),
        ("crit", json!(["exp"])),
    ];
    for (name, value) in headers {
        let token = with_header(&forger, |h| {
            h.insert(name.into(), value);
        });
        assert_unauthenticated(profile_with(&app, &token).await, "malformed token", "TOKEN_MALFORMED");
    }
    // All calls have returned; a fetch would have connected by now.
    let fetched = tokio::time::timeout(std::time::Duration::ZERO, listener.accept()).await;
    assert!(fetched.is_err(), "the service connected to a URL from a token header");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tf_03_hs256_signed_with_the_public_key_in_any_encoding_is_rejected() -> TestResult {
    use base64::Engine as _;
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    let jwks = app.auth.clone().get_jwks(authpair_proto::auth::v1::GetJwksRequest {}).await?.into_inner();
    let x = jwks.keys.first().map(|k| k.x.clone()).ok_or("no key")?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&x)?;
    let jwk_json = serde_json::to_vec(&json!({"kty": "OKP", "crv": "Ed25519", "x": x}))?;
    // SPKI DER of an Ed25519 key: a fixed 12-byte prefix, then the key.
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(&raw);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&spki)
    );
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(forger.kid.clone());
    let claims = forger.claims("mallory", &["admin"]);
    for secret in
        [raw.clone(), x.into_bytes(), jwk_json, spki, pem.clone().into_bytes(), pem.trim_end().as_bytes().to_vec()]
    {
        let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&secret))?;
        assert_unauthenticated(profile_with(&app, &token).await, "unsupported token algorithm", "TOKEN_INVALID");
    }
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn cv_01_expiry_follows_the_configured_30_second_leeway() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    let expired_at = |exp: i64| {
        signed(&forger, |c| {
            c.insert("iat".into(), json!(now() - 600));
            c.insert("nbf".into(), json!(now() - 600));
            c.insert("exp".into(), json!(exp));
        })
    };
    assert_unauthenticated(profile_with(&app, &expired_at(now() - 3600)).await, "token expired", "TOKEN_EXPIRED");
    assert_unauthenticated(profile_with(&app, &expired_at(now() - 35)).await, "token expired", "TOKEN_EXPIRED");
    assert_eq!(profile_with(&app, &expired_at(now() - 25)).await?.subject, "mallory");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn cv_03_not_yet_valid_future_issued_and_overlong_tokens_are_rejected() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    let early = signed(&forger, |c| {
        c.insert("nbf".into(), json!(now() + 3600));
    });
    assert_unauthenticated(profile_with(&app, &early).await, "token not yet valid", "TOKEN_NOT_YET_VALID");
    let future = signed(&forger, |c| {
        c.insert("iat".into(), json!(now() + 365 * 24 * 3600));
    });
    assert_unauthenticated(profile_with(&app, &future).await, "token issued in the future", "TOKEN_INVALID");
    let overlong = signed(&forger, |c| {
        c.insert("exp".into(), json!(now() + 30 * 24 * 3600));
    });
    assert_unauthenticated(profile_with(&app, &overlong).await, "token lifetime too long", "TOKEN_INVALID");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn cv_04_cv_05_issuer_and_audience_must_match_exactly() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    let with = |name: &str, value: Value| {
        signed(&forger, |c| {
            c.insert(name.into(), value);
        })
    };
    assert_unauthenticated(
        profile_with(&app, &with("iss", json!("https://evil"))).await,
        "wrong token issuer",
        "TOKEN_INVALID",
    );
    assert_unauthenticated(
        profile_with(&app, &with("iss", json!("authpair/"))).await,
        "wrong token issuer",
        "TOKEN_INVALID",
    );
    assert_unauthenticated(
        profile_with(&app, &with("iss", json!(["evil", "authpair"]))).await,
        "malformed token",
        "TOKEN_MALFORMED",
    );
    assert_unauthenticated(
        profile_with(&app, &with("aud", json!("auth-svc"))).await,
        "wrong token audience",
        "TOKEN_INVALID",
    );
    assert_unauthenticated(
        profile_with(&app, &with("aud", json!(["other"]))).await,
        "wrong token audience",
        "TOKEN_INVALID",
    );
    let empty = profile_with(&app, &with("aud", json!([]))).await;
    assert_eq!(empty.err().map(|s| s.code()), Some(Code::Unauthenticated));
    // RFC 7519 §4.1.3 allows an array naming us among others, but authpair
    // signs one audience per token: such a token is good at two services
    // (audience confusion) and is refused.
    assert_unauthenticated(
        profile_with(&app, &with("aud", json!(["other", "authpair"]))).await,
        "wrong token audience",
        "TOKEN_INVALID",
    );
    assert_eq!(profile_with(&app, &with("aud", json!(["authpair"]))).await?.subject, "mallory");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn cv_06_each_required_claim_missing_in_turn_is_named() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    for claim in ["exp", "iss", "aud", "sub", "iat", "jti", "gen", "client_id", "roles", "scope", "plan"] {
        let token = signed(&forger, |c| {
            c.remove(claim);
        });
        let message = format!("token missing required claim {claim}");
        assert_unauthenticated(profile_with(&app, &token).await, &message, "TOKEN_INVALID");
    }
    // Two claims are optional: without `nbf` a token is valid from its
    // `iat`, and without `preferred_username` its username is its `sub`.
    let without_nbf = signed(&forger, |c| {
        c.remove("nbf");
    });
    assert_eq!(profile_with(&app, &without_nbf).await?.subject, "mallory");
    let without_username = signed(&forger, |c| {
        c.remove("preferred_username");
    });
    let profile = profile_with(&app, &without_username).await?;
    assert_eq!((profile.subject.as_str(), profile.username.as_str()), ("mallory", "mallory"));
    let blank_sub = signed(&forger, |c| {
        c.insert("sub".into(), json!(""));
    });
    assert_unauthenticated(profile_with(&app, &blank_sub).await, "token missing required claim sub", "TOKEN_INVALID");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn cv_02_wrong_json_types_and_duplicate_claims_are_rejected() -> TestResult {
    let app = TestApp::spawn().await?;
    let forger = app.forger().await?;
    for (name, value) in [
        ("exp", json!("9999999999")),
        ("exp", json!(1e300)),
        ("exp", json!(-1)),
        ("exp", json!(null)),
        ("nbf", json!("99999999999")),
        ("nbf", json!(null)),
        ("preferred_username", json!(null)),
        ("preferred_username", json!(7)),
        ("aud", json!(123)),
        ("sub", json!({})),
        ("roles", json!("admin")),
        ("roles", json!(["superuser"])),
    ] {
        let token = signed(&forger, |c| {
            c.insert(name.into(), value.clone());
        });
        let status = profile_with(&app, &token).await.err().ok_or(format!("{name}={value} accepted"))?;
        assert_eq!(status.code(), Code::Unauthenticated, "{name}={value}: {status:?}");
    }
    let claims = forger.claims("mallory", &["viewer"]).to_string();
    let duplicated = claims.replacen("\"roles\":[\"viewer\"]", "\"roles\":[\"viewer\"],\"roles\":[\"admin\"]", 1);
    assert_ne!(claims, duplicated);
    let token = forger.sign_raw(&forger.header().to_string(), &duplicated);
    assert_unauthenticated(profile_with(&app, &token).await, "malformed token", "TOKEN_MALFORMED");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tm_06_a_token_over_8_kib_is_rejected_before_decoding() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = "A".repeat(9000);
    assert_unauthenticated(profile_with(&app, &token).await, "token too large", "TOKEN_MALFORMED");
    // The cap's edge: 8 KiB is read (and is no token); one byte more is not.
    assert_unauthenticated(profile_with(&app, &"A".repeat(8 * 1024)).await, "malformed token", "TOKEN_MALFORMED");
    assert_unauthenticated(profile_with(&app, &"A".repeat(8 * 1024 + 1)).await, "token too large", "TOKEN_MALFORMED");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tm_05_a_valid_token_under_any_other_key_is_not_read() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.root_token().await?;
    for key in ["grpc-authorization", "x-authorization", "authorization-token"] {
        let mut request = Request::new(GetMyProfileRequest {});
        request.metadata_mut().insert(key, MetadataValue::try_from(format!("Bearer {token}"))?);
        assert_unauthenticated(profile(&app, request).await, "missing bearer token", "TOKEN_MISSING");
    }
    let mut binary = Request::new(GetMyProfileRequest {});
    binary
        .metadata_mut()
        .insert_bin("authorization-bin", MetadataValue::from_bytes(format!("Bearer {token}").as_bytes()));
    assert_unauthenticated(profile(&app, binary).await, "missing bearer token", "TOKEN_MISSING");
    Ok(())
}

#[tokio::test]
async fn tf_11_a_refresh_token_is_not_an_access_token() -> TestResult {
    let app = TestApp::spawn().await?;
    let tokens = app.login(authpair_tests::ADMIN_USERNAME, authpair_tests::ADMIN_PASSWORD).await?;
    assert_unauthenticated(profile_with(&app, &tokens.refresh_token).await, "malformed token", "TOKEN_MALFORMED");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tf_11_an_access_token_is_not_a_refresh_token() -> TestResult {
    let app = TestApp::spawn().await?;
    let tokens = app.login(authpair_tests::ADMIN_USERNAME, authpair_tests::ADMIN_PASSWORD).await?;
    let request = authpair_proto::auth::v1::RefreshRequest { refresh_token: tokens.access_token.clone() };
    let refused = app.auth.clone().refresh(request).await;
    assert_unauthenticated(refused, "invalid refresh token", "REFRESH_TOKEN_INVALID");
    // The session itself is untouched: its own refresh token still works.
    let request = authpair_proto::auth::v1::RefreshRequest { refresh_token: tokens.refresh_token };
    assert!(!app.auth.clone().refresh(request).await?.into_inner().access_token.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_public_method_works_without_a_token_but_rejects_a_bad_one() -> TestResult {
    let app = TestApp::spawn().await?;
    let mut resource = app.resource.clone();
    let status = resource.get_status(GetStatusRequest {}).await?.into_inner();
    assert_eq!(status.service, "resource-service");
    assert_eq!(status.signing_keys, 1);
    let bad = resource.get_status(bearer(GetStatusRequest {}, "garbage")).await;
    assert_unauthenticated(bad, "malformed token", "TOKEN_MALFORMED");
    still_serves(&app).await?;
    Ok(())
}

#[tokio::test]
async fn tm_07_spoofed_identity_headers_are_ignored() -> TestResult {
    let app = TestApp::spawn().await?;
    let (user, token) = app.user_with_token("sam", &["viewer"]).await?;
    let mut request = bearer(GetMyProfileRequest {}, &token);
    for (name, value) in [("x-user-id", "root"), ("x-roles", "admin"), ("x-forwarded-for", "10.0.0.1")] {
        request.metadata_mut().insert(name, MetadataValue::from_static(value));
    }
    let profile = profile(&app, request).await?;
    assert_eq!(
        (profile.subject.as_str(), profile.roles.as_slice()),
        (user.id.as_str(), ["viewer".to_owned()].as_slice())
    );
    still_serves(&app).await?;
    Ok(())
}
