//! `authpair service-accounts create|list|delete|add-key|remove-key|federate|unfederate`.

use authpair_proto::auth::v1::{
    AddFederatedIdentityRequest, AddServiceAccountKeyRequest, CertificateBinding, CreateServiceAccountRequest,
    DeleteServiceAccountRequest, FederatedIdentity, ListServiceAccountsRequest, RemoveFederatedIdentityRequest,
    RemoveServiceAccountKeyRequest,
};
use serde_json::json;

use crate::{
    args::{Binding, ServiceAccountsCommand},
    context::Context,
    error::CliError,
    output::{emit, fields},
    views::{CreatedServiceAccountView, ServiceAccountView},
};

pub async fn run(ctx: &Context, command: ServiceAccountsCommand) -> Result<(), CliError> {
    let json = ctx.global.json;
    match command {
        ServiceAccountsCommand::Create(args) => {
            let public_keys = args.public_keys.iter().map(|path| read_jwk(path)).collect::<Result<Vec<_>, _>>()?;
            let request = CreateServiceAccountRequest {
                public_keys,
                name: args.name,
                scopes: args.scopes,
                plan: args.plan.unwrap_or_default(),
                audiences: args.audiences,
                certificate_binding: match args.certificate_binding {
                    Binding::Optional => CertificateBinding::Optional,
                    Binding::Required => CertificateBinding::Required,
                    Binding::Off => CertificateBinding::Off,
                }
                .into(),
            };
            let created = ctx.admin(request, |mut c, r| async move { c.create_service_account(r).await }).await?;
            let account = created.account.map(ServiceAccountView::from);
            let account = account.ok_or_else(|| CliError::other("the auth service returned no account"))?;
            let view = CreatedServiceAccountView {
                account,
                client_id: created.client_id,
                client_secret: created.client_secret,
            };
            emit(json, &view, || {
                let audiences = view.account.audiences.join(",");
                fields(&[
                    ("client id", view.client_id.clone()),
                    ("client secret", view.client_secret.clone()),
                    ("scopes", view.account.scopes.join(",")),
                    ("plan", view.account.plan.clone()),
                    ("audiences", if audiences.is_empty() { "(default)".into() } else { audiences }),
                    ("certificate binding", view.account.certificate_binding.clone()),
                ])
            });
            if !view.client_secret.is_empty() {
                eprintln!("The client secret is shown only this once; store it now.");
            }
        }
        ServiceAccountsCommand::AddKey(args) => {
            let request = AddServiceAccountKeyRequest { name: args.name.clone(), jwk: read_jwk(&args.jwk)? };
            let added = ctx.admin(request, |mut c, r| async move { c.add_service_account_key(r).await }).await?;
            emit(json, &json!({ "name": args.name, "kid": added.kid }), || {
                format!("Added key {} to {}.", added.kid, args.name)
            });
        }
        ServiceAccountsCommand::Federate(args) => {
            let identity = FederatedIdentity { issuer: args.issuer.clone(), subject: args.subject.clone() };
            let request = AddFederatedIdentityRequest { name: args.name.clone(), identity: Some(identity) };
            ctx.admin(request, |mut c, r| async move { c.add_federated_identity(r).await }).await?;
            emit(json, &json!({ "name": args.name, "issuer": args.issuer, "subject": args.subject }), || {
                format!("{} of {} now logs in as {}.", args.subject, args.issuer, args.name)
            });
        }
        ServiceAccountsCommand::Unfederate(args) => {
            let identity = FederatedIdentity { issuer: args.issuer.clone(), subject: args.subject.clone() };
            let request = RemoveFederatedIdentityRequest { identity: Some(identity) };
            ctx.admin(request, |mut c, r| async move { c.remove_federated_identity(r).await }).await?;
            emit(json, &json!({ "issuer": args.issuer, "removed": args.subject }), || {
                format!("{} of {} logs in as nobody now.", args.subject, args.issuer)
            });
        }
        ServiceAccountsCommand::RemoveKey(args) => {
            let request = RemoveServiceAccountKeyRequest { name: args.name.clone(), kid: args.kid.clone() };
            ctx.admin(request, |mut c, r| async move { c.remove_service_account_key(r).await }).await?;
            emit(json, &json!({ "name": args.name, "removed": args.kid }), || {
                format!("Removed key {} from {}.", args.kid, args.name)
            });
        }
        ServiceAccountsCommand::List => {
            let listed = ctx
                .admin(ListServiceAccountsRequest {}, |mut c, r| async move { c.list_service_accounts(r).await })
                .await?;
            let accounts: Vec<ServiceAccountView> = listed.accounts.into_iter().map(Into::into).collect();
            emit(json, &accounts, || ServiceAccountView::table(&accounts));
        }
        ServiceAccountsCommand::Delete(args) => {
            let request = DeleteServiceAccountRequest { name: args.name.clone() };
            ctx.admin(request, |mut c, r| async move { c.delete_service_account(r).await }).await?;
            emit(json, &json!({ "deleted": args.name }), || format!("Deleted service account {}.", args.name));
        }
    }
    Ok(())
}

/// A JWK file's text, at most 8 KiB.
fn read_jwk(path: &std::path::Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::other(format!("reading the public key {}: {e}", path.display())))?;
    if text.len() > 8 * 1024 {
        return Err(CliError::other(format!("{}: a JWK is at most 8 KiB", path.display())));
    }
    Ok(text.trim().to_owned())
}
