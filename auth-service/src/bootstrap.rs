//! The first admin. Runs at every start but acts only when no enabled admin
//! exists: with `AUTH_BOOTSTRAP_ADMIN=username:password` it creates that
//! user; without it, it creates `admin` with a generated password and prints
//! that password once to stderr (never to the log).

use authpair_claims::{ADMIN_ROLE, Plans};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::BootstrapAdmin,
    identity::{input, username},
    sessions::secret::refresh_token_hash,
    state::{AuthState, now},
    store::{NewUser, ServiceAccountRow, StoreError},
};

pub const GENERATED_ADMIN_USERNAME: &str = "admin";

/// The first admin's plan: `pro` where the deployment has it, else the
/// default plan.
fn admin_plan(plans: &Plans) -> String {
    plans.parse_plan("pro").unwrap_or_else(|_| plans.default_plan().to_owned())
}

pub async fn ensure_admin(state: &AuthState) -> anyhow::Result<()> {
    if state.store.count_with_role(ADMIN_ROLE).await? > 0 {
        if state.config.bootstrap_admin.is_some() {
            tracing::info!("an admin exists; AUTH_BOOTSTRAP_ADMIN is ignored");
        }
        return Ok(());
    }
    let (admin, generated) = match &state.config.bootstrap_admin {
        Some(admin) => (admin.clone(), false),
        None => {
            let mut bytes = [0u8; 18];
            getrandom::getrandom(&mut bytes)?;
            (BootstrapAdmin::new(GENERATED_ADMIN_USERNAME, &URL_SAFE_NO_PAD.encode(bytes)), true)
        }
    };
    let canonical = input::new_username(&admin.username).map_err(|e| anyhow::anyhow!("AUTH_BOOTSTRAP_ADMIN: {e}"))?;
    input::new_password(admin.password()).map_err(|e| anyhow::anyhow!("AUTH_BOOTSTRAP_ADMIN: {e}"))?;
    if let Some(existing) = state.store.user_by_username(&canonical).await? {
        // Instances starting together on one new database: another one
        // created this admin between our count and this lookup.
        if existing.roles.iter().any(|r| r == ADMIN_ROLE) && !existing.disabled {
            tracing::info!("another instance created the first admin");
            return Ok(());
        }
        anyhow::bail!(
            "no admin exists, and the bootstrap username {:?} belongs to a non-admin user ({}); \
             choose another AUTH_BOOTSTRAP_ADMIN username",
            admin.username,
            existing.id
        );
    }
    let password_hash = state.hasher.hash(SecretString::from(admin.password.expose_secret())).await?;
    let user = NewUser {
        username: admin.username.clone(),
        skeleton: username::skeleton(&canonical),
        canonical,
        password_hash,
        roles: vec![ADMIN_ROLE.to_owned()],
        plan: admin_plan(&state.config.plans),
    };
    let user = match state.store.create_user(user, now()).await {
        Ok(user) => user,
        // Instances starting together on one new database race here: the
        // one that lost sees the winner's admin.
        Err(StoreError::Conflict) if state.store.count_with_role(ADMIN_ROLE).await? > 0 => {
            tracing::info!("another instance created the first admin");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(target: "authpair::audit", event = "bootstrap_admin_created", subject = user.id.as_str());
    if generated {
        // Deliberately not through tracing: shown once to the operator, kept
        // out of log pipelines.
        eprintln!(
            "\n  authpair: created the first admin.\n    username: {}\n    password: {}\n  \
             It is shown only this once. Set AUTH_BOOTSTRAP_ADMIN=username:password to choose it.\n",
            admin.username,
            admin.password()
        );
    }
    Ok(())
}

/// Creates or updates the configured service account (scope
/// revocations:watch, tokens for the auth service's own audience) so a
/// resource service can follow the feed with no manual step. The configured
/// secret is authoritative.
pub async fn ensure_service_account(state: &AuthState) -> anyhow::Result<()> {
    let Some(account) = &state.config.bootstrap_service_account else {
        return Ok(());
    };
    input::service_name(&account.name).map_err(|e| anyhow::anyhow!("AUTH_BOOTSTRAP_SERVICE_ACCOUNT: {e}"))?;
    let now = now();
    let existing = state.store.service_account(&account.name).await?;
    let mut scopes = existing.as_ref().map(|a| a.scopes.clone()).unwrap_or_default();
    if !scopes.iter().any(|s| s == FEED_SCOPE) {
        scopes.push(FEED_SCOPE.to_owned());
    }
    let row = ServiceAccountRow {
        name: account.name.clone(),
        secret_hash: refresh_token_hash(&account.secret),
        scopes,
        plan: existing.as_ref().map_or_else(|| state.config.plans.default_plan().to_owned(), |a| a.plan.clone()),
        created_at: existing.as_ref().map_or(now, |a| a.created_at),
        certificate_binding: existing.as_ref().map(|a| a.certificate_binding).unwrap_or_default(),
        audiences: with_admin_audience(existing.map(|a| a.audiences).unwrap_or_default(), &state.config.admin_audience),
    };
    state.store.put_service_account(&row, true).await?;
    tracing::info!(name = account.name.as_str(), "bootstrap service account ready");
    Ok(())
}

const FEED_SCOPE: &str = "revocations:watch";

/// `audiences` with `admin` added if missing: the feed is all the account
/// is made for, so one that had none (the default audience) gets only this.
fn with_admin_audience(mut audiences: Vec<String>, admin: &str) -> Vec<String> {
    if !audiences.iter().any(|a| a == admin) {
        audiences.push(admin.to_owned());
    }
    audiences
}
