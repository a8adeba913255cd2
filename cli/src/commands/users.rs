//! `authpair users list|create|set-roles|disable|enable|revoke-sessions`.

use authpair_proto::auth::v1::{
    CreateUserRequest, DisableUserRequest, EnableUserRequest, ListUsersRequest, RevokeUserSessionsRequest,
    SetUserRolesRequest, User, UserRef, user_ref,
};
use secrecy::ExposeSecret as _;

use crate::{
    args::{UserArg, UsersCommand},
    context::Context,
    error::CliError,
    output::{emit, fields, timestamp},
    password, username,
    views::{RevokedSessionsView, UserView},
};

/// The user an admin method answered with (its response holds it).
fn answered(user: Option<User>) -> Result<UserView, CliError> {
    user.map(UserView::from).ok_or_else(|| CliError::other("the auth service answered without the user"))
}

/// The most the API returns in one page.
const PAGE_SIZE: u32 = 1000;

pub async fn run(ctx: &Context, command: UsersCommand) -> Result<(), CliError> {
    let json = ctx.global.json;
    match command {
        UsersCommand::List => {
            let users: Vec<UserView> = all_users(ctx).await?.into_iter().map(UserView::from).collect();
            emit(json, &users, || UserView::table(&users));
        }
        UsersCommand::Create(args) => {
            // A taken name fails before the password is asked for.
            let users = all_users(ctx).await?;
            if let Some(why) = username::taken(&args.username, users.iter().map(|u| u.username.as_str())) {
                return Err(CliError::other(why));
            }
            let password = password::new_password(args.password_stdin)?;
            let request = CreateUserRequest {
                username: args.username,
                password: password.expose_secret().to_owned(),
                roles: args.roles,
                plan: args.plan.unwrap_or_default(),
            };
            let user = ctx.admin(request, |mut c, r| async move { c.create_user(r).await }).await?;
            let user = answered(user.user)?;
            emit(json, &user, || user.fields());
        }
        UsersCommand::SetRoles(args) => {
            let request = SetUserRolesRequest { user: user_ref(&args.user), roles: args.roles };
            let user = ctx.admin(request, |mut c, r| async move { c.set_user_roles(r).await }).await?;
            let user = answered(user.user)?;
            emit(json, &user, || user.fields());
        }
        UsersCommand::Disable(user) => {
            let request = DisableUserRequest { user: user_ref(&user) };
            let user = ctx.admin(request, |mut c, r| async move { c.disable_user(r).await }).await?;
            let user = answered(user.user)?;
            emit(json, &user, || user.fields());
        }
        UsersCommand::Enable(user) => {
            let request = EnableUserRequest { user: user_ref(&user) };
            let user = ctx.admin(request, |mut c, r| async move { c.enable_user(r).await }).await?;
            let user = answered(user.user)?;
            emit(json, &user, || user.fields());
        }
        UsersCommand::RevokeSessions(user) => {
            let request = RevokeUserSessionsRequest { user: user_ref(&user) };
            let revoked = ctx.admin(request, |mut c, r| async move { c.revoke_user_sessions(r).await }).await?;
            let view = RevokedSessionsView {
                sessions_revoked: revoked.sessions_revoked,
                revoked_at: timestamp(revoked.revoked_at.as_ref()),
            };
            emit(json, &view, || {
                fields(&[
                    ("sessions revoked", view.sessions_revoked.to_string()),
                    ("tokens issued before", view.revoked_at.clone()),
                ])
            });
        }
    }
    Ok(())
}

/// Every user, page by page.
async fn all_users(ctx: &Context) -> Result<Vec<User>, CliError> {
    let mut users = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListUsersRequest { page_size: PAGE_SIZE, page_token };
        let page = ctx.admin(request, |mut c, r| async move { c.list_users(r).await }).await?;
        users.extend(page.users);
        if page.next_page_token.is_empty() {
            return Ok(users);
        }
        page_token = page.next_page_token;
    }
}

fn user_ref(arg: &UserArg) -> Option<UserRef> {
    let user = if arg.id { user_ref::User::Id(arg.user.clone()) } else { user_ref::User::Username(arg.user.clone()) };
    Some(UserRef { user: Some(user) })
}
