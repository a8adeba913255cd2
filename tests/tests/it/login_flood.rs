//! DS-04, a login flood: the auth service sheds what its hashing workers
//! cannot take, at once and as UNAVAILABLE, and calls that need no password
//! hash (the resource service's, Refresh, GetJwks) are still answered.

use std::num::NonZeroUsize;

use authpair_proto::{
    auth::v1::{GetJwksRequest, LoginRequest, RefreshRequest},
    resource::v1::GetMyProfileRequest,
};
use authpair_tests::{TestApp, TestResult, bearer, reason};
use tokio::task::JoinSet;
use tonic::Code;

#[tokio::test]
async fn ds_04_logins_past_the_hashing_queue_are_shed_at_once_and_other_calls_are_still_answered() -> TestResult {
    // One hashing worker and two places in its queue, so forty logins at
    // once overflow it (the default queue, sized to the host, would need hundreds).
    let queue = NonZeroUsize::new(2).ok_or("2 is not zero")?;
    let app = TestApp::spawn_with(
        |a| {
            a.hash_concurrency = 1;
            a.hash_queue = Some(queue);
        },
        |_| {},
    )
    .await?;
    let (_, token) = app.user_with_token("dora", &["viewer"]).await?;
    let refresh_token = app.login("dora", "dora-password").await?.refresh_token;

    let mut logins = JoinSet::new();
    for _ in 0..40 {
        let mut auth = app.auth.clone();
        let request = LoginRequest { username: "dora".into(), password: "dora-password".into(), ..Default::default() };
        logins.spawn(async move { auth.login(request).await.map(drop) });
    }
    let (mut served, mut shed, mut others_asked) = (0, 0, false);
    while let Some(login) = logins.join_next().await {
        match login? {
            Ok(()) => served += 1,
            Err(status) => {
                let answer = (status.code(), status.message(), reason(&status));
                assert_eq!(
                    answer,
                    (Code::Unavailable, "busy: too many password checks waiting", Some("OVERLOADED".into()))
                );
                shed += 1;
            }
        }
        // The queue was full a moment ago and its logins are still hashing:
        // what needs no hash is answered meanwhile.
        if shed == 1 && !others_asked {
            others_asked = true;
            app.resource.clone().get_my_profile(bearer(GetMyProfileRequest {}, &token)).await?;
            app.auth.clone().get_jwks(GetJwksRequest {}).await?;
            app.auth.clone().refresh(RefreshRequest { refresh_token: refresh_token.clone() }).await?;
        }
    }
    assert!(served >= 1 && shed >= 1, "{served} served, {shed} shed");
    assert_eq!(served + shed, 40);
    // Shedding is not a failed login (no throttle delay follows), and the
    // queue has drained: the next login is served.
    app.login("dora", "dora-password").await?;
    Ok(())
}
