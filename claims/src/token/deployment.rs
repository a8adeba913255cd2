//! What a deployment's tokens mean, defined once at the auth service: the
//! issuer (and earlier issuers still honoured), the role table and the
//! plans. The auth service announces a [`Deployment`] first on every
//! revocation-feed stream; each verifier that follows the feed takes it
//! ([`crate::Verifier::set_deployment`]), so no other service configures a
//! role, a plan or the issuer again.

use authpair_proto::auth::v1 as pb;

use super::roles::{Plans, RoleScopes};

/// The issuer, the role table and the plans of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The `iss` of the tokens issued now.
    pub issuer: String,
    /// Earlier issuers whose unexpired tokens are still accepted, read as
    /// [`Self::issuer`]'s: one authority under an earlier name.
    pub previous_issuers: Vec<String>,
    /// Every role that exists, with the scopes it grants.
    pub role_scopes: RoleScopes,
    /// The plan tiers that exist; the first is a new account's.
    pub plans: Plans,
}

impl Deployment {
    /// The issuers accepted, the current one first.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.issuer.as_str()).chain(self.previous_issuers.iter().map(String::as_str))
    }

    /// The feed's form.
    pub fn to_proto(&self) -> pb::Deployment {
        pb::Deployment {
            issuer: self.issuer.clone(),
            previous_issuers: self.previous_issuers.clone(),
            roles: self
                .role_scopes
                .rows()
                .map(|(role, scopes)| pb::RoleGrant { role: role.to_owned(), scopes: scopes.to_vec() })
                .collect(),
            plans: self.plans.iter().map(str::to_owned).collect(),
        }
    }

    /// Reads an announcement, with the checks the auth service's own flags
    /// get: a table without `admin`, a bad name or an empty issuer is refused.
    pub fn from_proto(announced: pb::Deployment) -> Result<Self, String> {
        let pb::Deployment { issuer, previous_issuers, roles, plans } = announced;
        if issuer.is_empty() || previous_issuers.iter().any(String::is_empty) {
            return Err("an issuer is empty".into());
        }
        let rows = roles.into_iter().map(|grant| (grant.role, grant.scopes)).collect();
        Ok(Self {
            issuer,
            previous_issuers,
            role_scopes: RoleScopes::from_table(rows)?,
            plans: Plans::from_list(plans)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Result<Deployment, String> {
        Ok(Deployment {
            issuer: "https://auth.example.com".into(),
            previous_issuers: vec!["authpair".into()],
            role_scopes: RoleScopes::parse("admin=admin;support=profile,orders:refund")?,
            plans: Plans::parse("free,pro")?,
        })
    }

    #[test]
    fn an_announced_deployment_reads_back_as_it_was_sent() -> Result<(), String> {
        let sent = deployment()?;
        assert_eq!(Deployment::from_proto(sent.to_proto())?, sent);
        assert_eq!(sent.issuers().collect::<Vec<_>>(), ["https://auth.example.com", "authpair"]);
        Ok(())
    }

    #[test]
    fn an_announcement_without_admin_an_issuer_or_with_a_bad_name_is_refused() -> Result<(), String> {
        let good = deployment()?.to_proto();
        let no_admin =
            pb::Deployment { roles: vec![pb::RoleGrant { role: "viewer".into(), scopes: vec![] }], ..good.clone() };
        assert!(Deployment::from_proto(no_admin).is_err());
        assert!(Deployment::from_proto(pb::Deployment { issuer: String::new(), ..good.clone() }).is_err());
        assert!(Deployment::from_proto(pb::Deployment { plans: vec!["a b".into()], ..good.clone() }).is_err());
        assert!(Deployment::from_proto(pb::Deployment { plans: vec![], ..good }).is_err());
        Ok(())
    }
}
