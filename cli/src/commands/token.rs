//! `authpair token`: a fresh access token on stdout, for scripts.

use secrecy::ExposeSecret as _;
use serde::Serialize;

use crate::{
    args::TokenArgs,
    context::Context,
    error::CliError,
    output::{emit, unix_to_rfc3339},
};

#[derive(Serialize)]
struct TokenView<'a> {
    access_token: &'a str,
    audience: &'a str,
    expires_at: String,
}

pub async fn token(ctx: &Context, args: TokenArgs) -> Result<(), CliError> {
    let audience = args.audience.unwrap_or_else(|| ctx.global.admin_audience.clone());
    let fresh = ctx.fresh(&audience, None).await?;
    let token = fresh.token.expose_secret();
    let view = TokenView { access_token: token, audience: &audience, expires_at: unix_to_rfc3339(fresh.expires_at) };
    emit(ctx.global.json, &view, || token.to_owned());
    Ok(())
}
