//! `auth.v1.AdminService`: user administration. The method policy admits
//! only role `admin`; these handlers never re-check it.

use std::{future::Future, sync::Arc};

use authpair_claims::caller;
use authpair_proto::auth::v1::{
    AddFederatedIdentityRequest, AddFederatedIdentityResponse, AddServiceAccountKeyRequest,
    AddServiceAccountKeyResponse, CertificateBinding as ProtoBinding, CreateServiceAccountRequest,
    CreateServiceAccountResponse, CreateUserRequest, CreateUserResponse, DeleteServiceAccountRequest,
    DeleteServiceAccountResponse, DisableUserRequest, DisableUserResponse, EnableUserRequest, EnableUserResponse,
    ListServiceAccountsRequest, ListServiceAccountsResponse, ListUsersRequest, ListUsersResponse,
    RemoveFederatedIdentityRequest, RemoveFederatedIdentityResponse, RemoveServiceAccountKeyRequest,
    RemoveServiceAccountKeyResponse, RevokeUserSessionsRequest, RevokeUserSessionsResponse, RotateSigningKeyRequest,
    RotateSigningKeyResponse, ServiceAccount, SetUserRolesRequest, SetUserRolesResponse, User, UserRef,
    admin_service_server::AdminService, user_ref,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use tonic::{Request, Response, Status};

use super::audit;
use crate::{
    config::OnRoleChange,
    error::{ApiError, Common},
    identity::{assertion, input, username},
    sessions::secret::{new_client_secret, refresh_token_hash},
    state::{AuthState, now, run_to_end},
    store::{
        AccountKey, CertificateBinding, FederatedIdentity, NewUser, RevokeUser, ServiceAccountRow, StoreError,
        UserRevoked, UserRow,
    },
};

fn account_to_proto(
    account: ServiceAccountRow,
    keys: &[AccountKey],
    federated: Vec<FederatedIdentity>,
) -> ServiceAccount {
    ServiceAccount {
        key_ids: keys.iter().map(|k| k.kid.clone()).collect(),
        federated_identities: federated
            .into_iter()
            .map(|f| authpair_proto::auth::v1::FederatedIdentity { issuer: f.issuer, subject: f.subject })
            .collect(),
        name: account.name,
        scopes: account.scopes,
        plan: account.plan.as_str().to_owned(),
        created_at: timestamp(account.created_at),
        audiences: account.audiences,
        certificate_binding: match account.certificate_binding {
            CertificateBinding::Optional => ProtoBinding::Optional,
            CertificateBinding::Required => ProtoBinding::Required,
            CertificateBinding::Off => ProtoBinding::Off,
        }
        .into(),
    }
}

fn timestamp(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// The public keys asked for at creation, each checked, no kid twice, at
/// most [`assertion::MAX_KEYS_PER_ACCOUNT`].
fn public_keys(jwks: &[String]) -> Result<Vec<AccountKey>, ApiError> {
    if jwks.len() > assertion::MAX_KEYS_PER_ACCOUNT {
        return Err(ApiError::invalid(format!("at most {} public keys", assertion::MAX_KEYS_PER_ACCOUNT)));
    }
    let mut keys: Vec<AccountKey> = Vec::new();
    for jwk in jwks {
        let key = assertion::public_key(jwk).map_err(ApiError::invalid)?;
        if keys.iter().any(|k| k.kid == key.kid) {
            return Err(ApiError::invalid(format!("two public keys with kid {:?}", key.kid)));
        }
        keys.push(key);
    }
    Ok(keys)
}

const LAST_ADMIN: &str = "cannot remove or disable the last enabled admin";

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
        created_at: timestamp(user.created_at),
    }
}

impl AdminApi {
    pub fn new(state: Arc<AuthState>) -> Self {
        Self { state }
    }

    /// Runs an admin write and its audit line to the end, whatever the
    /// caller does ([`run_to_end`]): a write that commits is applied (a
    /// revocation) and audited even if its caller has gone.
    async fn to_end<T, Fut>(&self, write: impl FnOnce(AdminApi) -> Fut) -> Result<T, ApiError>
    where
        Fut: Future<Output = Result<T, ApiError>> + Send + 'static,
        T: Send + 'static,
    {
        run_to_end(write(self.clone())).await
    }

    async fn resolve(&self, user: Option<&UserRef>) -> Result<UserRow, ApiError> {
        let found = match user.and_then(|u| u.user.as_ref()) {
            Some(user_ref::User::Id(id)) if !id.is_empty() => {
                // No id holds a NUL; refused as a username's is.
                ApiError::refuse_nul("user.id", id)?;
                self.state.store.user_by_id(id).await?
            }
            Some(user_ref::User::Username(name)) if !name.is_empty() => {
                let name = input::login_username(name)?;
                self.state.store.user_by_username(&username::lookup_key(name)).await?
            }
            _ => return Err(ApiError::invalid("user is required: give user.id or user.username")),
        };
        found.ok_or_else(|| ApiError::Common(Common::NotFound("user not found".into())))
    }

    /// Creates a user, or refuses a name that is taken, looks like a taken
    /// one, or mixes scripts ([`username::Refusal`], answered with a reason).
    /// Those are checked before the password is hashed; the unique indexes
    /// on both forms decide when two creations race.
    async fn create_user(&self, req: CreateUserRequest) -> Result<Result<User, username::Refusal>, ApiError> {
        let canonical = input::new_username(&req.username)?;
        let skeleton = username::skeleton(&canonical);
        let username = req.username;
        input::new_password(&req.password)?;
        let config = &self.state.config;
        let roles = input::roles(&req.roles, Some(&config.default_role), &config.role_scopes)?;
        let plan = input::plan(&req.plan, &config.plans)?;
        if let Some(refusal) = self.taken(&canonical, &skeleton).await? {
            return Ok(Err(refusal));
        }
        if let Err(mixed) = username::scripts(&canonical) {
            return Ok(Err(username::Refusal::MixedScripts(mixed)));
        }
        let password_hash = self.state.hasher.hash(SecretString::from(req.password)).await?;
        let user =
            NewUser { username, canonical: canonical.clone(), skeleton: skeleton.clone(), password_hash, roles, plan };
        match self.state.store.create_user(user, now()).await {
            Ok(user) => Ok(Ok(to_proto(user))),
            Err(StoreError::Conflict) => {
                Ok(Err(self.taken(&canonical, &skeleton).await?.unwrap_or(username::Refusal::Taken)))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Why a new name with this canonical form and skeleton cannot be
    /// created, if an account already has either.
    async fn taken(&self, canonical: &str, skeleton: &str) -> Result<Option<username::Refusal>, ApiError> {
        if self.state.store.user_by_username(canonical).await?.is_some() {
            return Ok(Some(username::Refusal::Taken));
        }
        let existing = self.state.store.user_by_skeleton(skeleton).await?;
        Ok(existing.map(|existing| username::Refusal::LooksLike { existing: existing.username }))
    }

    async fn set_user_roles(&self, req: SetUserRolesRequest) -> Result<User, ApiError> {
        let roles = input::roles(&req.roles, None, &self.state.config.role_scopes)?;
        let user = self.resolve(req.user.as_ref()).await?;
        // Tokens issued before the change carry the old roles: always
        // revoked. Sessions stay unless configured otherwise; their next
        // refresh reads the new roles.
        let end_sessions = self.state.config.on_role_change == OnRoleChange::Sessions;
        let rev = RevokeUser { end_sessions, ..self.state.revoke_user(None) };
        let (user, revoked) = self.state.store.set_roles(&user.id, &roles, rev).await.map_err(user_write_error)?;
        self.state.logged(revoked.sequence, self.state.subject_revocation(&user.id, revoked.sequence, rev));
        Ok(to_proto(user))
    }

    /// Revokes (and with `disable`, disables) a user; shared by the three
    /// admin methods that end a user's sessions.
    async fn revoke_user(
        &self,
        user: Option<&UserRef>,
        disable: Option<bool>,
        reason: &str,
    ) -> Result<(UserRow, UserRevoked, i64), ApiError> {
        let user = self.resolve(user).await?;
        let rev = self.state.revoke_user(disable);
        let (user, revoked) =
            self.state.store.revoke_user_checked(&user.id, rev, reason).await.map_err(user_write_error)?;
        self.state.logged(revoked.sequence, self.state.subject_revocation(&user.id, revoked.sequence, rev));
        Ok((user, revoked, rev.now))
    }

    async fn create_service_account(
        &self,
        req: CreateServiceAccountRequest,
    ) -> Result<CreateServiceAccountResponse, ApiError> {
        let name = input::service_name(&req.name)?.to_owned();
        let scopes = input::service_scopes(&req.scopes, &self.state.config.role_scopes)?;
        let plan = input::plan(&req.plan, &self.state.config.plans)?;
        let audiences = self.state.granted_audiences(&req.audiences)?;
        let certificate_binding = input::certificate_binding(req.certificate_binding)?;
        let keys = public_keys(&req.public_keys)?;
        // With keys, no secret: none is made, and the stored hash is one no
        // secret's hash equals.
        let secret = match keys.is_empty() {
            true => Some(new_client_secret().map_err(|e| {
                tracing::error!(error = %e, "random source failed");
                ApiError::Common(Common::Internal)
            })?),
            false => None,
        };
        let now = now();
        let account = ServiceAccountRow {
            name: name.clone(),
            secret_hash: secret.as_ref().map(refresh_token_hash).unwrap_or_default(),
            scopes,
            plan,
            created_at: now,
            audiences,
            certificate_binding,
        };
        match self.state.store.put_service_account(&account, false).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(ApiError::Common(Common::AlreadyExists("service account already exists".into())));
            }
            Err(other) => return Err(other.into()),
        }
        for key in &keys {
            self.state.store.add_account_key(&name, key, assertion::MAX_KEYS_PER_ACCOUNT, now).await?;
        }
        Ok(CreateServiceAccountResponse {
            account: Some(account_to_proto(account, &keys, Vec::new())),
            client_id: name,
            client_secret: secret.map(|s| s.expose_secret().to_owned()).unwrap_or_default(),
        })
    }

    /// An identity as asked for: a trusted issuer (`--federation`) and a
    /// subject of at most 256 printable characters.
    fn federated_identity(
        &self,
        identity: Option<authpair_proto::auth::v1::FederatedIdentity>,
    ) -> Result<FederatedIdentity, ApiError> {
        let identity = identity.ok_or_else(|| ApiError::invalid("identity is required"))?;
        if !self.state.federated.trusts(&identity.issuer) {
            return Err(ApiError::invalid(format!(
                "issuer {:?} is not one --federation trusts",
                identity.issuer.chars().take(128).collect::<String>()
            )));
        }
        let subject = identity.subject;
        if !crate::identity::trusted_issuers::is_subject(&subject) {
            return Err(ApiError::invalid("subject must be 1 to 256 printable characters"));
        }
        Ok(FederatedIdentity { issuer: identity.issuer, subject })
    }

    /// Registers a public key for service account `name`; its kid.
    async fn add_service_account_key(&self, name: &str, jwk: &str) -> Result<String, ApiError> {
        let name = input::service_name(name)?;
        let key = assertion::public_key(jwk).map_err(ApiError::invalid)?;
        match self.state.store.add_account_key(name, &key, assertion::MAX_KEYS_PER_ACCOUNT, now()).await {
            Ok(true) => Ok(key.kid),
            Ok(false) => Err(ApiError::Common(Common::FailedPrecondition(format!(
                "the account has {} keys already: remove one first",
                assertion::MAX_KEYS_PER_ACCOUNT
            )))),
            Err(StoreError::NotFound) => Err(ApiError::Common(Common::NotFound("service account not found".into()))),
            Err(StoreError::Conflict) => {
                Err(ApiError::Common(Common::AlreadyExists(format!("the account has a key {:?} already", key.kid))))
            }
            Err(other) => Err(other.into()),
        }
    }

    async fn delete_service_account(&self, name: &str) -> Result<(), ApiError> {
        let rev = self.state.revoke_user(None);
        let subject = format!("{}{name}", authpair_claims::token::claims::SERVICE_SUBJECT_PREFIX);
        let seq = self
            .state
            .store
            .delete_service_account(input::service_name(name)?, &subject, rev.expires_at, rev.now)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::Common(Common::NotFound("service account not found".into())),
                other => other.into(),
            })?;
        self.state.logged(seq, self.state.subject_revocation(&subject, seq, rev));
        Ok(())
    }

    async fn rotate_signing_key(&self) -> Result<RotateSigningKeyResponse, ApiError> {
        let (key, signs_from, rotation) = self.state.keys.rotate().await.map_err(|e| {
            tracing::error!(error = %e, "key rotation failed");
            ApiError::Common(Common::Unavailable)
        })?;
        let (previous_kid, previous_unpublished_at) = rotation.previous.unzip();
        Ok(RotateSigningKeyResponse {
            kid: key.kid().to_owned(),
            signs_from: timestamp(signs_from),
            previous_kid: previous_kid.unwrap_or_default(),
            previous_unpublished_at: previous_unpublished_at.and_then(timestamp),
        })
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
                .filter(|after| !after.contains('\0'))
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

fn user_write_error(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::Common(Common::NotFound("user not found".into())),
        StoreError::Conflict => ApiError::Common(Common::FailedPrecondition(LAST_ADMIN.into())),
        other => other.into(),
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_user(&self, request: Request<CreateUserRequest>) -> Result<Response<CreateUserResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let created = self
            .to_end(|api| async move {
                let created = AdminApi::create_user(&api, request.into_inner()).await?;
                if let Ok(user) = &created {
                    audit!("user_created", "/auth.v1.AdminService/CreateUser", admin.as_str(), "-", user.id.as_str());
                }
                Ok(created)
            })
            .await?;
        Ok(Response::new(CreateUserResponse { user: Some(created?) }))
    }

    async fn set_user_roles(
        &self,
        request: Request<SetUserRolesRequest>,
    ) -> Result<Response<SetUserRolesResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let user = self
            .to_end(|api| async move {
                let user = AdminApi::set_user_roles(&api, request.into_inner()).await?;
                audit!("roles_changed", "/auth.v1.AdminService/SetUserRoles", admin.as_str(), "-", user.id.as_str());
                Ok(user)
            })
            .await?;
        Ok(Response::new(SetUserRolesResponse { user: Some(user) }))
    }

    async fn list_users(&self, request: Request<ListUsersRequest>) -> Result<Response<ListUsersResponse>, Status> {
        Ok(Response::new(AdminApi::list_users(self, request.into_inner()).await?))
    }

    async fn disable_user(
        &self,
        request: Request<DisableUserRequest>,
    ) -> Result<Response<DisableUserResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let user = self
            .to_end(|api| async move {
                let (user, revoked, _) =
                    api.revoke_user(request.get_ref().user.as_ref(), Some(true), "disabled").await?;
                audit!("user_disabled", "/auth.v1.AdminService/DisableUser", admin.as_str(), "-", user.id.as_str());
                tracing::debug!(sessions = revoked.sessions_revoked, "sessions revoked");
                Ok(user)
            })
            .await?;
        Ok(Response::new(DisableUserResponse { user: Some(to_proto(user)) }))
    }

    async fn enable_user(&self, request: Request<EnableUserRequest>) -> Result<Response<EnableUserResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let user = self
            .to_end(|api| async move {
                let user = api.resolve(request.get_ref().user.as_ref()).await?;
                let user = api.state.store.enable_user(&user.id, now()).await.map_err(user_write_error)?;
                audit!("user_enabled", "/auth.v1.AdminService/EnableUser", admin.as_str(), "-", user.id.as_str());
                Ok(user)
            })
            .await?;
        Ok(Response::new(EnableUserResponse { user: Some(to_proto(user)) }))
    }

    async fn revoke_user_sessions(
        &self,
        request: Request<RevokeUserSessionsRequest>,
    ) -> Result<Response<RevokeUserSessionsResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let (revoked, revoked_at) = self
            .to_end(|api| async move {
                let (user, revoked, revoked_at) =
                    api.revoke_user(request.get_ref().user.as_ref(), None, "sessions revoked").await?;
                let subject = admin.as_str();
                audit!("sessions_revoked", "/auth.v1.AdminService/RevokeUserSessions", subject, "-", user.id.as_str());
                Ok((revoked, revoked_at))
            })
            .await?;
        Ok(Response::new(RevokeUserSessionsResponse {
            sessions_revoked: u32::try_from(revoked.sessions_revoked).unwrap_or(u32::MAX),
            revoked_at: timestamp(revoked_at),
        }))
    }

    async fn create_service_account(
        &self,
        request: Request<CreateServiceAccountRequest>,
    ) -> Result<Response<CreateServiceAccountResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let created = self
            .to_end(|api| async move {
                let created = AdminApi::create_service_account(&api, request.into_inner()).await?;
                audit!(
                    "service_account_created",
                    "/auth.v1.AdminService/CreateServiceAccount",
                    admin.as_str(),
                    "-",
                    created.client_id.as_str()
                );
                Ok(created)
            })
            .await?;
        Ok(Response::new(created))
    }

    async fn delete_service_account(
        &self,
        request: Request<DeleteServiceAccountRequest>,
    ) -> Result<Response<DeleteServiceAccountResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let name = request.into_inner().name;
        self.to_end(|api| async move {
            AdminApi::delete_service_account(&api, &name).await?;
            audit!(
                "service_account_deleted",
                "/auth.v1.AdminService/DeleteServiceAccount",
                admin.as_str(),
                "-",
                name.as_str()
            );
            Ok(())
        })
        .await?;
        Ok(Response::new(DeleteServiceAccountResponse {}))
    }

    async fn list_service_accounts(
        &self,
        _request: Request<ListServiceAccountsRequest>,
    ) -> Result<Response<ListServiceAccountsResponse>, Status> {
        let mut listed = Vec::new();
        for account in self.state.store.service_accounts().await.map_err(ApiError::from)? {
            let keys = self.state.store.account_keys(&account.name).await.map_err(ApiError::from)?;
            let federated = self.state.store.federated_identities(&account.name).await.map_err(ApiError::from)?;
            listed.push(account_to_proto(account, &keys, federated));
        }
        Ok(Response::new(ListServiceAccountsResponse { accounts: listed }))
    }

    async fn add_service_account_key(
        &self,
        request: Request<AddServiceAccountKeyRequest>,
    ) -> Result<Response<AddServiceAccountKeyResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let AddServiceAccountKeyRequest { name, jwk } = request.into_inner();
        let kid = AdminApi::add_service_account_key(self, &name, &jwk).await?;
        audit!(
            "service_account_key_added",
            "/auth.v1.AdminService/AddServiceAccountKey",
            admin.as_str(),
            "-",
            name.as_str()
        );
        Ok(Response::new(AddServiceAccountKeyResponse { kid }))
    }

    async fn add_federated_identity(
        &self,
        request: Request<AddFederatedIdentityRequest>,
    ) -> Result<Response<AddFederatedIdentityResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let AddFederatedIdentityRequest { name, identity } = request.into_inner();
        let name = input::service_name(&name).map_err(ApiError::from)?;
        let identity = self.federated_identity(identity)?;
        match self.state.store.add_federated_identity(name, &identity, now()).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => {
                return Err(ApiError::Common(Common::NotFound("service account not found".into())).into());
            }
            Err(StoreError::Conflict) => {
                let taken = "this issuer's subject is mapped to an account already";
                return Err(ApiError::Common(Common::AlreadyExists(taken.into())).into());
            }
            Err(other) => return Err(ApiError::from(other).into()),
        }
        audit!("federated_identity_added", "/auth.v1.AdminService/AddFederatedIdentity", admin.as_str(), "-", name);
        Ok(Response::new(AddFederatedIdentityResponse {}))
    }

    async fn remove_federated_identity(
        &self,
        request: Request<RemoveFederatedIdentityRequest>,
    ) -> Result<Response<RemoveFederatedIdentityResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let identity = self.federated_identity(request.into_inner().identity)?;
        self.state.store.remove_federated_identity(&identity).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::Common(Common::NotFound("no such mapping".into())),
            other => other.into(),
        })?;
        audit!(
            "federated_identity_removed",
            "/auth.v1.AdminService/RemoveFederatedIdentity",
            admin.as_str(),
            "-",
            identity.issuer.as_str()
        );
        Ok(Response::new(RemoveFederatedIdentityResponse {}))
    }

    async fn remove_service_account_key(
        &self,
        request: Request<RemoveServiceAccountKeyRequest>,
    ) -> Result<Response<RemoveServiceAccountKeyResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let RemoveServiceAccountKeyRequest { name, kid } = request.into_inner();
        let name = input::service_name(&name).map_err(ApiError::from)?;
        self.state.store.remove_account_key(name, &kid).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::Common(Common::NotFound("no such key for this account".into())),
            other => other.into(),
        })?;
        audit!(
            "service_account_key_removed",
            "/auth.v1.AdminService/RemoveServiceAccountKey",
            admin.as_str(),
            "-",
            name
        );
        Ok(Response::new(RemoveServiceAccountKeyResponse {}))
    }

    async fn rotate_signing_key(
        &self,
        request: Request<RotateSigningKeyRequest>,
    ) -> Result<Response<RotateSigningKeyResponse>, Status> {
        let admin = caller(&request)?.subject().to_owned();
        let rotated = self
            .to_end(|api| async move {
                let rotated = AdminApi::rotate_signing_key(&api).await?;
                audit!(
                    "signing_key_rotated",
                    "/auth.v1.AdminService/RotateSigningKey",
                    admin.as_str(),
                    "-",
                    rotated.kid.as_str()
                );
                Ok(rotated)
            })
            .await?;
        Ok(Response::new(rotated))
    }
}
