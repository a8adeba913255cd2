//! The operator's switch between the two Ed25519 backends (`--ed25519`):
//! both services run on either, with the same verdicts.

use authpair_claims::Ed25519Backend;
use authpair_proto::{auth::v1::ListUsersRequest, resource::v1::GetMyProfileRequest};
use authpair_tests::{TestApp, TestResult, bearer, reason};
use tonic::Code;

#[tokio::test]
async fn with_the_stock_ed25519_backend_both_services_accept_real_tokens_and_refuse_forged_ones() -> TestResult {
    let app = TestApp::spawn_with(
        |a| a.shared.tokens.ed25519 = Ed25519Backend::Stock,
        |r| r.shared.tokens.ed25519 = Ed25519Backend::Stock,
    )
    .await?;
    let (_, token) = app.user_with_token("stella", &["viewer"]).await?;
    let profile = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?;
    assert_eq!(profile.into_inner().username, "stella");
    let admin = app.admin_token().await?;
    app.admin.clone().list_users(bearer(ListUsersRequest::default(), &admin)).await?;

    // A signature character changed (not the last, whose low bits are
    // padding): a forgery to either backend.
    let mut forged = token.into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged)?;
    let refused = app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &forged)).await;
    let refused = refused.err().ok_or("a forged token was accepted")?;
    assert_eq!((refused.code(), reason(&refused).as_deref()), (Code::Unauthenticated, Some("TOKEN_INVALID")));
    Ok(())
}

#[test]
fn the_backend_flag_takes_prepared_or_stock_and_nothing_else() {
    assert_eq!("prepared".parse::<Ed25519Backend>(), Ok(Ed25519Backend::Prepared));
    assert_eq!("stock".parse::<Ed25519Backend>(), Ok(Ed25519Backend::Stock));
    assert!("fast".parse::<Ed25519Backend>().is_err());
    assert_eq!(Ed25519Backend::default(), Ed25519Backend::Prepared);
}
