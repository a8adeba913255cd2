//! The orders themselves, in memory: what the service does once the auth
//! layer has let a call through. Handlers read the verified caller with
//! `authpair_claims::caller` and check ownership with `authorize_owner`;
//! one calls the resource service on the caller's behalf ([`NextHop`]).

use std::{collections::BTreeMap, sync::Mutex};

use authpair_claims::{authorize_owner, caller, client::TokenExchange};
use authpair_proto::resource::v1::{GetMyProfileRequest, resource_service_client::ResourceServiceClient};
use secrecy::ExposeSecret as _;
use tonic::{Request, Response, Status, transport::Channel};

use crate::pb::{self, orders_service_server::OrdersService};

#[derive(Debug, Default)]
pub struct Orders {
    by_id: Mutex<BTreeMap<String, pb::Order>>,
    resource: Option<NextHop>,
}

/// The resource service, called on a caller's behalf with a token from
/// token exchange.
#[derive(Debug, Clone)]
pub struct NextHop {
    /// Trades the caller's token for one the resource service takes.
    pub exchange: TokenExchange,
    /// The resource service.
    pub channel: Channel,
    /// Its audience.
    pub audience: String,
}

impl Orders {
    /// Orders in memory; `resource`, where DescribeCustomer asks (without
    /// it, DescribeCustomer is UNIMPLEMENTED).
    pub fn new(resource: Option<NextHop>) -> Self {
        Self { by_id: Mutex::default(), resource }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, pb::Order>) -> T) -> T {
        // A poisoned lock only means a handler panicked mid-insert; the map
        // itself is still whole.
        f(&mut self.by_id.lock().unwrap_or_else(|poison| poison.into_inner()))
    }
}

fn order_id(id: &str) -> Result<&str, Status> {
    if id.is_empty() || id.len() > 64 {
        return Err(Status::invalid_argument("order_id must be 1 to 64 bytes"));
    }
    Ok(id)
}

#[tonic::async_trait]
impl OrdersService for Orders {
    async fn get_status(&self, _: Request<pb::GetStatusRequest>) -> Result<Response<pb::GetStatusResponse>, Status> {
        Ok(Response::new(pb::GetStatusResponse { status: "ok".into() }))
    }

    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let owner = caller(&request)?.subject().to_owned();
        let pb::PlaceOrderRequest { item, amount_cents } = request.into_inner();
        if item.is_empty() || item.len() > 200 || amount_cents <= 0 {
            return Err(Status::invalid_argument("an order needs an item (1 to 200 bytes) and a positive amount"));
        }
        let order = self.with(|orders| {
            let order_id = format!("o-{}", orders.len() + 1);
            let order = pb::Order { order_id: order_id.clone(), owner, item, amount_cents, refunded: false };
            orders.insert(order_id, order.clone());
            order
        });
        Ok(Response::new(pb::PlaceOrderResponse { order: Some(order) }))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let me = caller(&request)?.subject();
        let orders = self.with(|orders| orders.values().filter(|o| o.owner == me).cloned().collect());
        Ok(Response::new(pb::ListOrdersResponse { orders }))
    }

    async fn get_order(&self, request: Request<pb::GetOrderRequest>) -> Result<Response<pb::GetOrderResponse>, Status> {
        let claims = caller(&request)?;
        let id = order_id(&request.get_ref().order_id)?;
        let order = self.with(|orders| orders.get(id).cloned()).ok_or_else(|| Status::not_found("no such order"))?;
        authorize_owner(claims, &order.owner)?;
        Ok(Response::new(pb::GetOrderResponse { order: Some(order) }))
    }

    async fn refund_order(
        &self,
        request: Request<pb::RefundOrderRequest>,
    ) -> Result<Response<pb::RefundOrderResponse>, Status> {
        let id = order_id(&request.get_ref().order_id)?;
        let order = self.with(|orders| {
            let order = orders.get_mut(id).ok_or_else(|| Status::not_found("no such order"))?;
            if order.refunded {
                return Err(Status::failed_precondition("the order is already refunded"));
            }
            order.refunded = true;
            Ok(order.clone())
        })?;
        tracing::info!(order = id, by = caller(&request)?.subject(), "order refunded");
        Ok(Response::new(pb::RefundOrderResponse { order: Some(order) }))
    }

    async fn describe_customer(
        &self,
        request: Request<pb::DescribeCustomerRequest>,
    ) -> Result<Response<pb::DescribeCustomerResponse>, Status> {
        let hop = self.resource.as_ref().ok_or_else(|| Status::unimplemented("no resource service configured"))?;
        // The caller's own token, traded for one the resource service
        // takes, that says this service is acting: the caller's token is
        // never forwarded to a service it was not issued for.
        let token = hop.exchange.on_behalf_of(request.metadata(), &hop.audience, "").await?;
        let mut call = Request::new(GetMyProfileRequest {});
        let value = format!("Bearer {}", token.expose_secret())
            .parse()
            .map_err(|_| Status::internal("the exchanged token is not a header value"))?;
        call.metadata_mut().insert("authorization", value);
        let profile = ResourceServiceClient::new(hop.channel.clone()).get_my_profile(call).await?.into_inner();
        Ok(Response::new(pb::DescribeCustomerResponse {
            subject: profile.subject,
            username: profile.username,
            actors: profile.actors,
        }))
    }
}
