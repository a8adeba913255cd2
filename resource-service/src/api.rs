//! `resource.v1.ResourceService`. Authentication and the method policy ran
//! before any of these handlers; they read the caller through `caller`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use authpair_claims::{ApiError, DecisionStats, Denylist, Verifier, caller};
use authpair_proto::resource::v1::{
    CreateDocumentRequest, CreateDocumentResponse, DeleteDocumentRequest, DeleteDocumentResponse,
    GetAdminDashboardRequest, GetAdminDashboardResponse, GetDocumentRequest, GetDocumentResponse, GetMyProfileRequest,
    GetMyProfileResponse, GetStatusRequest, GetStatusResponse, ListDocumentsRequest, ListDocumentsResponse,
    SearchRequest, SearchResponse, UpdateDocumentRequest, UpdateDocumentResponse,
    resource_service_server::ResourceService,
};
use tonic::{Request, Response, Status};

use crate::{
    documents::{self, to_proto},
    store::Store,
};

use authpair_claims::clock::now;

/// The quotas this service's methods may name (`Search`'s).
pub const QUOTAS: &[&str] = &["search"];

#[derive(Debug, Clone)]
pub struct ResourceApi {
    store: Store,
    verifier: Arc<Verifier>,
    denylist: Arc<Denylist>,
    stats: Arc<DecisionStats>,
    key_fetches: Arc<AtomicU64>,
    started: Instant,
}

impl ResourceApi {
    pub fn new(
        store: Store,
        verifier: Arc<Verifier>,
        denylist: Arc<Denylist>,
        stats: Arc<DecisionStats>,
        key_fetches: Arc<AtomicU64>,
    ) -> Self {
        Self { store, verifier, denylist, stats, key_fetches, started: Instant::now() }
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

    async fn get_my_profile(
        &self,
        request: Request<GetMyProfileRequest>,
    ) -> Result<Response<GetMyProfileResponse>, Status> {
        let claims = caller(&request)?;
        Ok(Response::new(GetMyProfileResponse {
            subject: claims.subject().to_owned(),
            username: claims.username().to_owned(),
            roles: claims.roles().to_vec(),
            plan: claims.plan().to_owned(),
            scopes: claims.scopes().to_vec(),
            token_expires_at: Some(prost_types::Timestamp {
                seconds: i64::try_from(claims.expires_at()).unwrap_or(i64::MAX),
                nanos: 0,
            }),
            actors: claims.actors().to_vec(),
        }))
    }

    async fn get_admin_dashboard(
        &self,
        request: Request<GetAdminDashboardRequest>,
    ) -> Result<Response<GetAdminDashboardResponse>, Status> {
        let claims = caller(&request)?;
        let (revoked_tokens, revoked_subjects) = self.denylist.len();
        Ok(Response::new(GetAdminDashboardResponse {
            subject: claims.subject().to_owned(),
            uptime_seconds: self.started.elapsed().as_secs(),
            calls_allowed: self.stats.allowed(),
            calls_denied: self.stats.denied(),
            signing_keys: self.key_count(),
            key_fetches: self.key_fetches.load(Ordering::Relaxed),
            revoked_tokens: revoked_tokens as u64,
            revoked_subjects: revoked_subjects as u64,
        }))
    }

    async fn create_document(
        &self,
        request: Request<CreateDocumentRequest>,
    ) -> Result<Response<CreateDocumentResponse>, Status> {
        let owner = caller(&request)?.subject().to_owned();
        let req = request.into_inner();
        let (title, body) = (documents::title(&req.title)?, documents::body(&req.body)?);
        let doc = self.store.create(&owner, title, body, now()).await.map_err(ApiError::from)?;
        Ok(Response::new(CreateDocumentResponse { document: Some(to_proto(doc)) }))
    }

    async fn get_document(
        &self,
        request: Request<GetDocumentRequest>,
    ) -> Result<Response<GetDocumentResponse>, Status> {
        let doc = documents::owned(&self.store, caller(&request)?, &request.get_ref().id).await?;
        Ok(Response::new(GetDocumentResponse { document: Some(to_proto(doc)) }))
    }

    async fn list_documents(
        &self,
        request: Request<ListDocumentsRequest>,
    ) -> Result<Response<ListDocumentsResponse>, Status> {
        let claims = caller(&request)?;
        let req = request.get_ref();
        let limit = match req.page_size {
            0 => documents::DEFAULT_PAGE,
            n => n.min(documents::MAX_PAGE),
        };
        let after = documents::decode_cursor(&req.page_token)?;
        let owner = documents::visible_owner(claims);
        // One extra row tells whether another page exists.
        let mut docs = self.store.list(owner, after.as_ref(), limit + 1).await.map_err(ApiError::from)?;
        let next_page_token = if docs.len() > limit as usize {
            docs.truncate(limit as usize);
            docs.last().map(documents::encode_cursor).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListDocumentsResponse {
            documents: docs.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_document(
        &self,
        request: Request<UpdateDocumentRequest>,
    ) -> Result<Response<UpdateDocumentResponse>, Status> {
        let doc = documents::owned(&self.store, caller(&request)?, &request.get_ref().id).await?;
        let req = request.into_inner();
        let title = req.title.as_deref().map(documents::title).transpose()?;
        let body = req.body.as_deref().map(documents::body).transpose()?;
        let updated = self.store.update(&doc.id, title, body, now()).await.map_err(ApiError::from)?;
        let updated = updated.ok_or_else(|| ApiError::NotFound("document not found".into()))?;
        Ok(Response::new(UpdateDocumentResponse { document: Some(to_proto(updated)) }))
    }

    async fn delete_document(
        &self,
        request: Request<DeleteDocumentRequest>,
    ) -> Result<Response<DeleteDocumentResponse>, Status> {
        let doc = documents::owned(&self.store, caller(&request)?, &request.get_ref().id).await?;
        if !self.store.delete(&doc.id).await.map_err(ApiError::from)? {
            return Err(ApiError::NotFound("document not found".into()).into());
        }
        Ok(Response::new(DeleteDocumentResponse {}))
    }

    async fn search(&self, request: Request<SearchRequest>) -> Result<Response<SearchResponse>, Status> {
        let claims = caller(&request)?;
        let query = documents::query(&request.get_ref().query)?;
        let owner = documents::visible_owner(claims);
        let docs = self.store.search(owner, query, documents::SEARCH_LIMIT).await.map_err(ApiError::from)?;
        Ok(Response::new(SearchResponse { documents: docs.into_iter().map(to_proto).collect() }))
    }
}
