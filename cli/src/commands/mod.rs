//! One module per command group; each runs its command and prints the result.

mod keys;
mod login;
mod service_accounts;
mod token;
mod users;

use crate::{args::Command, context::Context, error::CliError};

pub async fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Login(args) => login::login(ctx, args).await,
        Command::Logout(args) => login::logout(ctx, args).await,
        Command::Token(args) => token::token(ctx, args).await,
        Command::Users(command) => users::run(ctx, command).await,
        Command::ServiceAccounts(command) => service_accounts::run(ctx, command).await,
        Command::Keys(command) => keys::run(ctx, command).await,
    }
}
