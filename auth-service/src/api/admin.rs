//! `auth.v1.AdminService`: user administration. The method policy admits
//! only role `admin`; these handlers never re-check it.

use std::sync::Arc;

use authpair_claims::{Role, caller};
use authpair_proto::auth::v1::{
    CreateUserRequest, ListUsersRequest, ListUsersResponse, SetUserRolesRequest, User, UserRef,
    admin_service_server::AdminService, user_ref,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::SecretString;
use tonic::{Request, Response, Status};

use super::audit;
use crate::{
    error::ApiError,
    input,
    state::{AuthState, now},
    store::{NewUser, StoreError, UserRow},
};

const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Debug, Clone)]
pub struct AdminApi {
    state: Arc<AuthState>,
}

fn to_proto(user: UserRow) -> User {
    User {
        id: user.id,
        username: user.username,
        roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        plan: user.plan.as_str().to_owned(),
        disabled: user.disabled,
        created_at: Some(prost_types::Timestamp { seconds: user.created_at, nanos: 0 }),
    }
}

impl AdminApi {
    pub fn new(state: Arc<AuthState>) -> Self {
        Self { state }
    }

    async fn resolve(&self, user: Option<&UserRef>) -> Result<UserRow, ApiError> {
        let found = match user.and_then(|u| u.user.as_ref()) {
            Some(user_ref::User::Id(id)) if !id.is_empty() => self.state.store.user_by_id(id).await?,
            Some(user_ref::User::Username(name)) if !name.is_empty() => {
                self.state.store.user_by_username(input::login_username(name)?).await?
            }
            _ => return Err(ApiError::invalid("user is required: give user.id or user.username")),
        };
        found.ok_or_else(|| ApiError::NotFound("user not found".into()))
    }

    async fn create_user(&self, req: CreateUserRequest) -> Result<User, ApiError> {
        let username = input::new_username(&req.username)?.to_owned();
        input::new_password(&req.password)?;
        let roles = input::roles(&req.roles, Some(Role::Viewer))?;
        let plan = input::plan(&req.plan)?;
        let password_hash = self.state.hasher.hash(SecretString::from(req.password)).await?;
        let user = NewUser { username, password_hash, roles, plan };
        match self.state.store.create_user(user, now()).await {
            Ok(user) => Ok(to_proto(user)),
            Err(StoreError::Conflict) => Err(ApiError::AlreadyExists("username already exists".into())),
            Err(other) => Err(other.into()),
        }
    }

    async fn set_user_roles(&self, req: SetUserRolesRequest) -> Result<User, ApiError> {
        let roles = input::roles(&req.roles, None)?;
        let user = self.resolve(req.user.as_ref()).await?;
        match self.state.store.set_roles(&user.id, &roles, now()).await {
            Ok(user) => Ok(to_proto(user)),
            Err(StoreError::NotFound) => Err(ApiError::NotFound("user not found".into())),
            Err(StoreError::Conflict) => {
                Err(ApiError::FailedPrecondition("cannot remove the admin role from the last admin".into()))
            }
            Err(other) => Err(other.into()),
        }
    }

    async fn list_users(&self, req: ListUsersRequest) -> Result<ListUsersResponse, ApiError> {
        let limit = match req.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let after = if req.page_token.is_empty() {
            String::new()
        } else {
            URL_SAFE_NO_PAD
                .decode(&req.page_token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::invalid("invalid page_token"))?
        };
        // One extra row tells whether another page exists.
        let mut users = self.state.store.list_users(&after, limit + 1).await?;
        let next_page_token = if users.len() > limit as usize {
            users.truncate(limit as usize);
            users.last().map(|u| URL_SAFE_NO_PAD.encode(&u.username)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(ListUsersResponse { users: users.into_iter().map(to_proto).collect(), next_page_token })
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_user(&self, request: Request<CreateUserRequest>) -> Result<Response<User>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let user = AdminApi::create_user(self, request.into_inner()).await?;
        audit!("user_created", "/auth.v1.AdminService/CreateUser", admin.as_str(), "-", user.id.as_str());
        Ok(Response::new(user))
    }

    async fn set_user_roles(&self, request: Request<SetUserRolesRequest>) -> Result<Response<User>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let user = AdminApi::set_user_roles(self, request.into_inner()).await?;
        audit!("roles_changed", "/auth.v1.AdminService/SetUserRoles", admin.as_str(), "-", user.id.as_str());
        Ok(Response::new(user))
    }

    async fn list_users(&self, request: Request<ListUsersRequest>) -> Result<Response<ListUsersResponse>, Status> {
        Ok(Response::new(AdminApi::list_users(self, request.into_inner()).await?))
    }
}
