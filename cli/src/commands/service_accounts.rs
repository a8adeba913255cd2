//! `authpair service-accounts create|list|delete`.

use authpair_proto::auth::v1::{CreateServiceAccountRequest, DeleteServiceAccountRequest, ListServiceAccountsRequest};
use serde_json::json;

use crate::{
    args::ServiceAccountsCommand,
    context::Context,
    error::CliError,
    output::{emit, fields},
    views::{CreatedServiceAccountView, ServiceAccountView},
};

pub async fn run(ctx: &Context, command: ServiceAccountsCommand) -> Result<(), CliError> {
    let json = ctx.global.json;
    match command {
        ServiceAccountsCommand::Create(args) => {
            let request = CreateServiceAccountRequest {
                name: args.name,
                scopes: args.scopes,
                plan: args.plan.unwrap_or_default(),
                audiences: args.audiences,
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
                ])
            });
            eprintln!("The client secret is shown only this once; store it now.");
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
