//! The naive EdDSA interceptor server (binary `authpair-naive-eddsa`): the
//! yardstick of the fresh-token target, not a product: "a minimal tonic
//! server with EdDSA checked in an interceptor", the cost authpair's
//! fresh-token calls must at least match. Serving it beside authpair lets the
//! target be measured as a ratio in one run on the same machine instead of
//! against a figure from another day.
//!
//! ResourceService's GetMyProfile behind a tonic interceptor that runs
//! `jsonwebtoken::decode` (EdDSA, `iss` and `aud` checked, stock RustCrypto
//! provider) on every call: no cache, no denylist, no policy, no metrics, no
//! limits. Every other method is UNIMPLEMENTED. The public key comes from the
//! auth service's GetJwks at start, and the health service says SERVING once
//! it listens.
//!
//! [`serve_without_auth`] is the bare tonic yardstick instead: GetStatus
//! answered with a fixed status, no interceptor, no auth service, nothing
//! read from a call's headers; every other method is UNIMPLEMENTED.

use std::future::Future;

use anyhow::Context;
use authpair_proto::{
    auth::v1::{GetJwksRequest, auth_service_client::AuthServiceClient},
    resource::v1::{
        self as pb,
        resource_service_server::{ResourceService, ResourceServiceServer},
    },
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

#[derive(Clone, serde::Deserialize)]
struct TokenClaims {
    sub: String,
    #[serde(default)]
    preferred_username: String,
}

/// `serves_status`: GetStatus answers (the no-auth yardstick) rather than
/// being UNIMPLEMENTED.
#[derive(Debug)]
struct Naive {
    serves_status: bool,
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("the naive baseline serves GetMyProfile only"))
}

#[tonic::async_trait]
impl ResourceService for Naive {
    async fn get_my_profile(
        &self,
        request: Request<pb::GetMyProfileRequest>,
    ) -> Result<Response<pb::GetMyProfileResponse>, Status> {
        let claims = request.extensions().get::<TokenClaims>().ok_or_else(|| Status::unauthenticated("no token"))?;
        Ok(Response::new(pb::GetMyProfileResponse {
            subject: claims.sub.clone(),
            username: claims.preferred_username.clone(),
            ..Default::default()
        }))
    }
    async fn get_status(&self, _: Request<pb::GetStatusRequest>) -> Result<Response<pb::GetStatusResponse>, Status> {
        if !self.serves_status {
            return unimplemented();
        }
        Ok(Response::new(pb::GetStatusResponse {
            service: "authpair-naive-eddsa".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            signing_keys: 0,
            revocation_feed_age_seconds: 0,
            revocation_sequence: 0,
        }))
    }
    async fn get_admin_dashboard(
        &self,
        _: Request<pb::GetAdminDashboardRequest>,
    ) -> Result<Response<pb::GetAdminDashboardResponse>, Status> {
        unimplemented()
    }
    async fn create_document(
        &self,
        _: Request<pb::CreateDocumentRequest>,
    ) -> Result<Response<pb::CreateDocumentResponse>, Status> {
        unimplemented()
    }
    async fn get_document(
        &self,
        _: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<pb::GetDocumentResponse>, Status> {
        unimplemented()
    }
    async fn list_documents(
        &self,
        _: Request<pb::ListDocumentsRequest>,
    ) -> Result<Response<pb::ListDocumentsResponse>, Status> {
        unimplemented()
    }
    async fn update_document(
        &self,
        _: Request<pb::UpdateDocumentRequest>,
    ) -> Result<Response<pb::UpdateDocumentResponse>, Status> {
        unimplemented()
    }
    async fn delete_document(
        &self,
        _: Request<pb::DeleteDocumentRequest>,
    ) -> Result<Response<pb::DeleteDocumentResponse>, Status> {
        unimplemented()
    }
    async fn search(&self, _: Request<pb::SearchRequest>) -> Result<Response<pb::SearchResponse>, Status> {
        unimplemented()
    }
}

/// The auth service's published keys, waiting up to a minute for it to
/// start answering (a bench script may start both at once).
async fn jwks(auth: &str) -> anyhow::Result<Vec<authpair_proto::auth::v1::Jwk>> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let attempt = async {
            let mut client = AuthServiceClient::connect(auth.to_owned()).await?;
            anyhow::Ok(client.get_jwks(GetJwksRequest {}).await?.into_inner().keys)
        };
        match attempt.await {
            Ok(keys) => return Ok(keys),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(e.context("fetching the auth service's keys"));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// Serves on `listener` until `shutdown`, trusting the first key the auth
/// service at `auth` publishes, for tokens with this `issuer` and `audience`.
pub async fn serve(
    listener: TcpListener,
    auth: &str,
    issuer: &str,
    audience: &str,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let keys = jwks(auth).await?;
    let key = DecodingKey::from_ed_components(&keys.first().context("the auth service published no key")?.x)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);

    let check = move |mut request: Request<()>| {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let data = jsonwebtoken::decode::<TokenClaims>(token, &key, &validation)
            .map_err(|_| Status::unauthenticated("invalid token"))?;
        request.extensions_mut().insert(data.claims);
        Ok(request)
    };
    let (_health, health_service) = tonic_health::server::health_reporter();
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(ResourceServiceServer::with_interceptor(Naive { serves_status: false }, check))
        .serve_with_incoming_shutdown(accepted(listener), shutdown)
        .await?;
    Ok(())
}

/// Serves on `listener` until `shutdown` with no auth at all: GetStatus on
/// plain tonic, what any auth layer is measured against.
pub async fn serve_without_auth(listener: TcpListener, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (_health, health_service) = tonic_health::server::health_reporter();
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(ResourceServiceServer::new(Naive { serves_status: true }))
        .serve_with_incoming_shutdown(accepted(listener), shutdown)
        .await?;
    Ok(())
}

/// The connections `listener` accepts, with TCP_NODELAY, as tonic's own
/// `Server::serve(addr)` sets by default: a minimal tonic server as its users
/// run it. (A stream of plain accepted sockets would leave Nagle's algorithm
/// on, which coalesces small responses into fewer writes under pipelined
/// load and delays a lone one: not the server a user deploys.)
fn accepted(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}
