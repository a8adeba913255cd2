//! the resource service's clock ±90 s off the auth service's. Tokens
//! minted as a skewed auth service would mint them follow the configured
//! leeway: refused at the default 30 s, accepted at 120 s.

use authpair_proto::resource::v1::GetMyProfileRequest;
use authpair_tests::{TestApp, TestResult, bearer, now};
use serde_json::json;
use tonic::Code;

/// A 30-second token issued by an auth service whose clock is `skew`
/// seconds ahead of ours.
async fn skewed_token(app: &TestApp, skew: i64) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let forger = app.forger().await?;
    let mut claims = forger.claims("skewed", &["viewer"]);
    let issued = now() + skew;
    claims["iat"] = json!(issued);
    claims["nbf"] = json!(issued);
    claims["exp"] = json!(issued + 30);
    Ok(forger.sign(&forger.header(), &claims))
}

#[tokio::test]
async fn r_07_a_90_second_skew_is_refused_at_the_default_leeway() -> TestResult {
    let app = TestApp::spawn().await?;
    let ahead =
        app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &skewed_token(&app, 90).await?)).await;
    let ahead = ahead.err().ok_or("accepted a token from 90 s in the future")?;
    assert_eq!((ahead.code(), ahead.message()), (Code::Unauthenticated, "token not yet valid"));
    let behind =
        app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &skewed_token(&app, -90).await?)).await;
    let behind = behind.err().ok_or("accepted a token that expired 60 s ago")?;
    assert_eq!((behind.code(), behind.message()), (Code::Unauthenticated, "token expired"));
    Ok(())
}

#[tokio::test]
async fn r_07_a_90_second_skew_is_accepted_with_a_120_second_leeway() -> TestResult {
    let app = TestApp::spawn_with(|_| {}, |r| r.shared.tokens.leeway = std::time::Duration::from_secs(120)).await?;
    for skew in [90, -90] {
        let token = skewed_token(&app, skew).await?;
        let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?;
        assert_eq!(profile.into_inner().subject, "skewed");
    }
    Ok(())
}
