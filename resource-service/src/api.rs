//! `resource.v1.ResourceService`. Authentication and the method policy ran
//! before any of these handlers; they read the caller through `caller`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use authpair_claims::{DecisionStats, Denylist, Verifier, caller};
use authpair_proto::resource::v1::{
    AdminDashboard, GetAdminDashboardRequest, GetMyProfileRequest, GetStatusRequest, GetStatusResponse, Profile,
    resource_service_server::ResourceService,
};
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct ResourceApi {
    verifier: Arc<Verifier>,
    denylist: Arc<Denylist>,
    stats: Arc<DecisionStats>,
    key_fetches: Arc<AtomicU64>,
    started: Instant,
}

impl ResourceApi {
    pub fn new(
        verifier: Arc<Verifier>,
        denylist: Arc<Denylist>,
        stats: Arc<DecisionStats>,
        key_fetches: Arc<AtomicU64>,
    ) -> Self {
        Self { verifier, denylist, stats, key_fetches, started: Instant::now() }
    }

    fn key_count(&self) -> u32 {
        u32::try_from(self.verifier.key_count()).unwrap_or(u32::MAX)
    }
}

#[tonic::async_trait]
impl ResourceService for ResourceApi {
    async fn get_status(&self, _request: Request<GetStatusRequest>) -> Result<Response<GetStatusResponse>, Status> {
        Ok(Response::new(GetStatusResponse {
            service: "resource-service".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            signing_keys: self.key_count(),
            revocation_feed_age_seconds: self.denylist.age().map_or(u64::MAX, |age| age.as_secs()),
            revocation_sequence: self.denylist.sequence(),
        }))
    }

    async fn get_my_profile(&self, request: Request<GetMyProfileRequest>) -> Result<Response<Profile>, Status> {
        let claims = caller(&request)?;
        Ok(Response::new(Profile {
            subject: claims.subject().to_owned(),
            username: claims.username().to_owned(),
            roles: claims.roles().iter().map(|r| r.as_str().to_owned()).collect(),
            plan: claims.plan().as_str().to_owned(),
            scopes: claims.scopes().to_vec(),
            token_expires_at: Some(prost_types::Timestamp {
                seconds: i64::try_from(claims.expires_at()).unwrap_or(i64::MAX),
                nanos: 0,
            }),
        }))
    }

    async fn get_admin_dashboard(
        &self,
        request: Request<GetAdminDashboardRequest>,
    ) -> Result<Response<AdminDashboard>, Status> {
        let claims = caller(&request)?;
        Ok(Response::new(AdminDashboard {
            subject: claims.subject().to_owned(),
            uptime_seconds: self.started.elapsed().as_secs(),
            calls_allowed: self.stats.allowed(),
            calls_denied: self.stats.denied(),
            signing_keys: self.key_count(),
            key_fetches: self.key_fetches.load(Ordering::Relaxed),
            revoked_tokens: self.denylist.len().0 as u64,
            revoked_subjects: self.denylist.len().1 as u64,
        }))
    }
}
