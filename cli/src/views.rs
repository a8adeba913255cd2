//! The results as printed: serializable views of the API's messages (the
//! generated types are not `Serialize`), with times as RFC 3339 strings.

use authpair_proto::auth::v1::{CertificateBinding, ServiceAccount, User};
use serde::Serialize;

use crate::output::{Table, fields, timestamp};

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
    pub plan: String,
    pub disabled: bool,
    pub created_at: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        let created_at = timestamp(u.created_at.as_ref());
        Self { id: u.id, username: u.username, roles: u.roles, plan: u.plan, disabled: u.disabled, created_at }
    }
}

impl UserView {
    pub fn table(users: &[UserView]) -> String {
        let mut table = Table::new(&["USERNAME", "ID", "ROLES", "PLAN", "STATUS", "CREATED"]);
        for u in users {
            let status = if u.disabled { "disabled" } else { "enabled" };
            table.row(vec![
                u.username.clone(),
                u.id.clone(),
                u.roles.join(","),
                u.plan.clone(),
                status.into(),
                u.created_at.clone(),
            ]);
        }
        table.render()
    }

    pub fn fields(&self) -> String {
        fields(&[
            ("username", self.username.clone()),
            ("id", self.id.clone()),
            ("roles", self.roles.join(",")),
            ("plan", self.plan.clone()),
            ("status", if self.disabled { "disabled" } else { "enabled" }.into()),
            ("created", self.created_at.clone()),
        ])
    }
}

#[derive(Debug, Serialize)]
pub struct ServiceAccountView {
    pub name: String,
    pub scopes: Vec<String>,
    pub plan: String,
    pub audiences: Vec<String>,
    /// "optional", "required" or "off".
    pub certificate_binding: String,
    /// The ids of its public keys (private_key_jwt).
    pub key_ids: Vec<String>,
    /// The external identities that log in as it, `<issuer> <subject>`.
    pub federated_identities: Vec<String>,
    pub created_at: String,
}

impl From<ServiceAccount> for ServiceAccountView {
    fn from(a: ServiceAccount) -> Self {
        let created_at = timestamp(a.created_at.as_ref());
        let certificate_binding = match a.certificate_binding() {
            CertificateBinding::Unspecified | CertificateBinding::Optional => "optional",
            CertificateBinding::Required => "required",
            CertificateBinding::Off => "off",
        };
        Self {
            name: a.name,
            scopes: a.scopes,
            plan: a.plan,
            audiences: a.audiences,
            certificate_binding: certificate_binding.into(),
            key_ids: a.key_ids,
            federated_identities: a
                .federated_identities
                .into_iter()
                .map(|f| format!("{} {}", f.issuer, f.subject))
                .collect(),
            created_at,
        }
    }
}

impl ServiceAccountView {
    pub fn table(accounts: &[ServiceAccountView]) -> String {
        let mut table = Table::new(&["NAME", "SCOPES", "PLAN", "AUDIENCES", "CERTIFICATE", "KEYS", "CREATED"]);
        for a in accounts {
            let audiences = if a.audiences.is_empty() { "(default)".into() } else { a.audiences.join(",") };
            table.row(vec![
                a.name.clone(),
                a.scopes.join(","),
                a.plan.clone(),
                audiences,
                a.certificate_binding.clone(),
                if a.key_ids.is_empty() { "-".into() } else { a.key_ids.join(",") },
                a.created_at.clone(),
            ]);
        }
        table.render()
    }
}

/// A new service account with its secret: printed once, by design.
#[derive(Debug, Serialize)]
pub struct CreatedServiceAccountView {
    pub account: ServiceAccountView,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Debug, Serialize)]
pub struct RevokedSessionsView {
    pub sessions_revoked: u32,
    pub revoked_at: String,
}

#[derive(Debug, Serialize)]
pub struct RotatedKeyView {
    pub kid: String,
    pub signs_from: String,
    pub previous_kid: String,
    pub previous_unpublished_at: String,
}

/// A stored session, without its tokens.
#[derive(Debug, Serialize)]
pub struct SessionView {
    pub username: String,
    pub audience: String,
    pub url: String,
    pub expires_at: String,
    pub file: String,
}
