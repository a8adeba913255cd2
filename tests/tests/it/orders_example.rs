//! A service that is not authpair's: the `orders-service` example binary,
//! protected by authpair-claims alone, against a real auth service whose
//! role table defines a `support` role with a new scope, by configuration.

use std::time::{Duration, Instant};

use authpair_claims::token::roles::DEFAULT_ROLE_SCOPES;
use authpair_proto::auth::v1::{ExchangeTokenRequest, LogoutRequest};
use authpair_tests::{ADMIN_AUDIENCE, Process, TestApp, TestResult, bearer, reason, wait_for_health};
use orders_service::pb::{
    DescribeCustomerRequest, GetOrderRequest, GetStatusRequest, ListOrdersRequest, PlaceOrderRequest,
    RefundOrderRequest, orders_service_client::OrdersServiceClient,
};
use tonic::{Code, transport::Channel};

/// The auth service with a `support` role, and the example following it as
/// its own service account; the example is SERVING (keys and feed in place).
/// It may act for users at the resource service (audience `authpair`) with
/// profile and documents:read, by the delegation table, and a `helper`
/// service may act for them at the example (the same audience) with
/// everything support holds.
pub(crate) async fn deployment() -> anyhow::Result<(TestApp, Process, OrdersServiceClient<Channel>)> {
    let app = TestApp::spawn_with(
        |a| {
            a.role_scopes = match authpair_claims::RoleScopes::parse(&format!(
                "{DEFAULT_ROLE_SCOPES};support=profile,orders:refund"
            )) {
                Ok(table) => table,
                Err(e) => panic!("role table: {e}"),
            };
            a.delegations = match auth_service::config::Delegations::parse(
                "orders-service@authpair=profile,documents:read; helper@authpair=profile,orders:refund",
            ) {
                Ok(table) => Some(table),
                Err(e) => panic!("delegations: {e}"),
            };
        },
        |_| {},
    )
    .await?;
    let (client_id, secret) =
        app.service_account_for("orders-service", &["revocations:watch", "tokens:exchange"], &[ADMIN_AUDIENCE]).await?;
    let (auth_url, resource_url) = (app.auth_server.url(), app.resource_server.url());
    let orders = Process::spawn(
        "orders-service",
        &[
            "--listen",
            "127.0.0.1:0",
            "--auth-url",
            &auth_url,
            "--client-id",
            &client_id,
            "--resource-url",
            &resource_url,
        ],
        &[("ORDERS_CLIENT_SECRET", secret.as_str())],
    )
    .await?;
    wait_for_health(orders.addr, authpair_tests::ServingStatus::Serving).await?;
    let client = OrdersServiceClient::new(authpair_tests::channel(orders.addr)?);
    Ok((app, orders, client))
}

#[tokio::test]
async fn a_service_that_is_not_ours_refuses_no_token_denies_a_viewer_and_serves_support_by_configuration_alone()
-> TestResult {
    let (app, _orders, client) = deployment().await?;
    let public = client.clone().get_status(GetStatusRequest {}).await?;
    assert_eq!(public.into_inner().status, "ok");

    let anonymous = client.clone().list_orders(ListOrdersRequest {}).await.err().ok_or("served without a token")?;
    assert_eq!((anonymous.code(), reason(&anonymous).as_deref()), (Code::Unauthenticated, Some("TOKEN_MISSING")));

    let (_, viewer) = app.user_with_token("vera", &["viewer"]).await?;
    let lamp = PlaceOrderRequest { item: "lamp".into(), amount_cents: 4200 };
    let order = client.clone().place_order(bearer(lamp, &viewer)).await?.into_inner().order.ok_or("no order")?;
    let mine = client.clone().list_orders(bearer(ListOrdersRequest {}, &viewer)).await?.into_inner().orders;
    assert_eq!(mine, std::slice::from_ref(&order));

    let refund = || RefundOrderRequest { order_id: order.order_id.clone() };
    let denied = client.clone().refund_order(bearer(refund(), &viewer)).await.err().ok_or("a viewer refunded")?;
    assert_eq!((denied.code(), reason(&denied).as_deref()), (Code::PermissionDenied, Some("ROLE_REQUIRED")));
    assert_eq!(denied.message(), "requires role support");

    let (_, support) = app.user_with_token("sam", &["support"]).await?;
    let refunded = client.clone().refund_order(bearer(refund(), &support)).await?.into_inner();
    assert!(refunded.order.ok_or("no order")?.refunded);
    // Support may refund, but the order is still the viewer's: not theirs to read.
    let theirs = GetOrderRequest { order_id: order.order_id.clone() };
    let not_owner = client.clone().get_order(bearer(theirs, &support)).await.err().ok_or("read another's order")?;
    assert_eq!((not_owner.code(), reason(&not_owner).as_deref()), (Code::PermissionDenied, Some("NOT_OWNER")));
    Ok(())
}

#[tokio::test]
async fn a_support_role_without_the_refund_scope_is_denied_for_the_scope() -> TestResult {
    let (app, _orders, client) = deployment().await?;
    let (_, viewer) = app.user_with_token("vic", &["viewer"]).await?;
    let desk = PlaceOrderRequest { item: "desk".into(), amount_cents: 100 };
    let placed = client.clone().place_order(bearer(desk, &viewer)).await?.into_inner();
    let order_id = placed.order.ok_or("no order")?.order_id;
    // A support token without orders:refund: the roles pass, the scope does not.
    let forger = app.forger().await?;
    let mut claims = forger.claims("support-without-scope", &["support"]);
    claims["scope"] = serde_json::json!("profile");
    let token = forger.sign(&forger.header(), &claims);
    let denied = client.clone().refund_order(bearer(RefundOrderRequest { order_id }, &token)).await;
    let denied = denied.err().ok_or("refunded without the scope")?;
    assert_eq!((denied.code(), reason(&denied).as_deref()), (Code::PermissionDenied, Some("SCOPE_REQUIRED")));
    Ok(())
}

#[tokio::test]
async fn a_logout_reaches_the_example_service_within_a_second() -> TestResult {
    let (app, _orders, client) = deployment().await?;
    app.create_user("lou", "lou-password", &["viewer"]).await?;
    let session = app.login("lou", "lou-password").await?;
    client.clone().list_orders(bearer(ListOrdersRequest {}, &session.access_token)).await?;

    let logout = bearer(LogoutRequest { refresh_token: session.refresh_token.clone() }, &session.access_token);
    assert!(app.auth.clone().logout(logout).await?.into_inner().access_token_revoked);
    let started = Instant::now();
    loop {
        match client.clone().list_orders(bearer(ListOrdersRequest {}, &session.access_token)).await {
            Ok(_) if started.elapsed() < Duration::from_secs(1) => continue,
            Ok(_) => return Err("the example still accepted a logged-out token after 1 s".into()),
            Err(status) => {
                assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token revoked"));
                break;
            }
        }
    }
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    Ok(())
}

#[tokio::test]
async fn the_example_calls_the_resource_service_on_the_users_behalf_and_it_sees_the_user_and_the_example() -> TestResult
{
    let (app, _orders, client) = deployment().await?;
    let (user, token) = app.user_with_token("dora", &["viewer"]).await?;
    let seen = client.clone().describe_customer(bearer(DescribeCustomerRequest {}, &token)).await?.into_inner();
    assert_eq!((seen.subject, seen.username), (user.id, "dora".to_owned()));
    assert_eq!(seen.actors, ["svc:orders-service"]);
    Ok(())
}

#[tokio::test]
async fn a_refund_is_made_only_by_support_in_person_never_by_a_service_on_their_behalf() -> TestResult {
    let (app, _orders, client) = deployment().await?;
    let (_, viewer) = app.user_with_token("val", &["viewer"]).await?;
    let chair = PlaceOrderRequest { item: "chair".into(), amount_cents: 900 };
    let order = client.clone().place_order(bearer(chair, &viewer)).await?.into_inner().order.ok_or("no order")?;
    let (_, support) = app.user_with_token("sue", &["support"]).await?;
    let helper = app.service_token_for("helper", &["tokens:exchange"], "", ADMIN_AUDIENCE).await?;
    let exchange = ExchangeTokenRequest { subject_token: support, ..Default::default() };
    let on_behalf = app.auth.clone().exchange_token(bearer(exchange, &helper)).await?.into_inner();
    assert_eq!(on_behalf.scope, "orders:refund profile");

    let refund = RefundOrderRequest { order_id: order.order_id };
    let refused = client.clone().refund_order(bearer(refund, &on_behalf.access_token)).await.err();
    let refused = refused.ok_or("refunded on someone's behalf")?;
    assert_eq!((refused.code(), refused.message()), (Code::PermissionDenied, "not on another's behalf"));
    assert_eq!(reason(&refused).as_deref(), Some("DELEGATION_FORBIDDEN"));
    Ok(())
}
