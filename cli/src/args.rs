//! The command line: every command, subcommand and flag, with its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The auth service's URL when neither `--auth-url` nor a session names one.
pub const DEFAULT_URL: &str = authpair_claims::defaults::AUTH_URL;

/// Administer an authpair deployment: log in, manage users, service accounts
/// and signing keys, and print access tokens for scripts.
///
/// Start with `authpair --auth-url URL login USER`. The session (never the
/// password) is kept in `session.json`, mode 0600, in $AUTHPAIR_CONFIG_DIR,
/// else $XDG_CONFIG_HOME/authpair, else $HOME/.config/authpair. Its tokens
/// are sent only to the URL it was made at. Later commands renew its access
/// token when it is about to expire.
#[derive(Debug, Parser)]
#[command(name = "authpair", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The auth service, http:// or https:// [default: the session's URL, else
    /// http://127.0.0.1:50051]. A session is used only at the URL it was made at.
    #[arg(long, env = "AUTHPAIR_URL", global = true, value_name = "URL")]
    pub auth_url: Option<String>,

    /// The CA that signed the auth service's certificate (PEM), for an https URL.
    #[arg(long, env = "AUTHPAIR_AUTH_CA", global = true, value_name = "PEM")]
    pub auth_ca: Option<PathBuf>,

    /// mTLS: a client certificate (PEM) to present; needs --auth-ca and --client-key.
    #[arg(long, env = "AUTHPAIR_CLIENT_CERT", global = true, value_name = "PEM", requires_all = ["auth_ca", "client_key"])]
    pub client_cert: Option<PathBuf>,

    /// mTLS: the client certificate's private key (PEM).
    #[arg(long, env = "AUTHPAIR_CLIENT_KEY", global = true, value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<PathBuf>,

    /// The admin API's audience: the auth service's --admin-audience. Admin
    /// commands use the session logged in for it.
    #[arg(long, env = "AUTHPAIR_ADMIN_AUDIENCE", global = true, default_value = authpair_claims::defaults::ADMIN_AUDIENCE)]
    pub admin_audience: String,

    /// Print one JSON document on stdout instead of a table (errors too go
    /// to stderr as JSON).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and keep the session for later commands.
    ///
    /// The password is prompted for without echo, or read from stdin with
    /// --password-stdin. A session is for one auth service URL and one
    /// audience (a token's `aud`): the default is the admin API's. Logging in
    /// again at the same URL for the same audience replaces that session;
    /// other sessions are kept.
    Login(LoginArgs),

    /// End sessions: revoke them at the auth service and forget them.
    ///
    /// Each session is ended at the URL it was made at. Without --audience
    /// (and --auth-url) every stored session ends and the session file is
    /// deleted.
    Logout(LogoutArgs),

    /// Print a fresh access token, for scripts: `authpair token --audience authpair`.
    ///
    /// The token is the stored session's for that audience, renewed first if
    /// it is about to expire. A session keeps its audience, so a token for
    /// another service needs a login for it: `authpair login USER --audience AUD`.
    Token(TokenArgs),

    /// Users: list, create, set roles, disable, enable, revoke sessions.
    #[command(subcommand)]
    Users(UsersCommand),

    /// Service accounts (OAuth client credentials): create, list, delete.
    #[command(subcommand, name = "service-accounts")]
    ServiceAccounts(ServiceAccountsCommand),

    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The username.
    pub username: String,

    /// The service the session's tokens are for [default: the admin audience].
    #[arg(long, env = "AUTHPAIR_AUDIENCE")]
    pub audience: Option<String>,

    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// End only the session for this audience.
    #[arg(long)]
    pub audience: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The service the token is for [default: the admin audience].
    #[arg(long, env = "AUTHPAIR_AUDIENCE")]
    pub audience: Option<String>,
}

/// A user, by username (or by id with --id).
#[derive(Debug, Args)]
pub struct UserArg {
    /// The user's username, or with --id the user's id (their tokens' `sub`).
    pub user: String,

    /// USER is an id, not a username.
    #[arg(long)]
    pub id: bool,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List every user, ordered by username.
    List,

    /// Create a user; the password is prompted for twice without echo, or
    /// read from stdin with --password-stdin, once the name is known to be
    /// free.
    Create(CreateUserArgs),

    /// Replace a user's roles; the change shows in the user's next access
    /// token, and their current tokens are revoked.
    SetRoles(SetRolesArgs),

    /// Disable a user: no login, no refresh, and every token issued before
    /// now stops working at once.
    Disable(UserArg),

    /// Let a disabled user log in again; old tokens stay revoked.
    Enable(UserArg),

    /// "Log out everywhere": revoke every session of the user and every
    /// access token issued before now.
    RevokeSessions(UserArg),
}

#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// The new user's username.
    pub username: String,

    /// A role (repeat, or separate with commas) [default: the deployment's default role].
    #[arg(long = "role", value_name = "ROLE", value_delimiter = ',')]
    pub roles: Vec<String>,

    /// The plan (quota tier) [default: "free"].
    #[arg(long)]
    pub plan: Option<String>,

    /// Read the new user's password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct SetRolesArgs {
    #[command(flatten)]
    pub user: UserArg,

    /// The complete new set of roles.
    #[arg(required = true, num_args = 1.., value_delimiter = ',')]
    pub roles: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ServiceAccountsCommand {
    /// Create a service account and print its client id and secret.
    ///
    /// The client secret is printed this once and never again (the auth
    /// service keeps only a hash): store it where the service will read it.
    /// An account created with --public-key has no secret.
    Create(CreateServiceAccountArgs),

    /// List the service accounts.
    List,

    /// Delete a service account; its tokens stop working at once.
    Delete(DeleteServiceAccountArgs),

    /// Register a public key (a JWK file) the account signs client
    /// assertions with (RFC 7523 private_key_jwt); prints its kid.
    AddKey(AddKeyArgs),

    /// Remove one of the account's public keys.
    RemoveKey(RemoveKeyArgs),

    /// Let a trusted external issuer's subject (a Kubernetes service
    /// account, a SPIFFE ID) log in as the account with its platform token.
    Federate(FederateArgs),

    /// Remove such a mapping.
    Unfederate(UnfederateArgs),
}

#[derive(Debug, Args)]
pub struct FederateArgs {
    /// The account's name.
    pub name: String,
    /// The issuer, as the auth service's --federation file names it.
    #[arg(long)]
    pub issuer: String,
    /// The subject its tokens carry (`system:serviceaccount:<ns>:<name>`,
    /// `spiffe://<domain>/<path>`).
    #[arg(long)]
    pub subject: String,
}

#[derive(Debug, Args)]
pub struct UnfederateArgs {
    /// The issuer.
    #[arg(long)]
    pub issuer: String,
    /// The subject.
    #[arg(long)]
    pub subject: String,
}

#[derive(Debug, Args)]
pub struct AddKeyArgs {
    /// The account's name.
    pub name: String,
    /// A file holding the public key as a JWK (JSON).
    #[arg(long)]
    pub jwk: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct RemoveKeyArgs {
    /// The account's name.
    pub name: String,
    /// The key's id, as add-key printed it.
    pub kid: String,
}

#[derive(Debug, Args)]
pub struct CreateServiceAccountArgs {
    /// The account's name, also its client id: 1 to 64 of a-z, 0-9 and '-'.
    pub name: String,

    /// A granted scope (repeat, or separate with commas); at least one.
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',', required = true)]
    pub scopes: Vec<String>,

    /// The plan (quota tier) of its tokens [default: "free"].
    #[arg(long)]
    pub plan: Option<String>,

    /// An audience its tokens may be for (repeat, or separate with commas)
    /// [default: the deployment's default audience alone].
    #[arg(long = "audience", value_name = "AUDIENCE", value_delimiter = ',')]
    pub audiences: Vec<String>,

    /// Whether its tokens are bound to the client certificate they are
    /// asked for with (RFC 8705): optional (bound when asked for over
    /// mTLS), required (only over mTLS) or off.
    #[arg(long, value_enum, default_value_t = Binding::Optional)]
    pub certificate_binding: Binding,

    /// A file holding a public key (a JWK) the account authenticates with
    /// instead of a secret (repeat for several); with any, no secret is
    /// made.
    #[arg(long = "public-key", value_name = "JWK_FILE")]
    pub public_keys: Vec<std::path::PathBuf>,
}

/// A service account's certificate binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Binding {
    Optional,
    Required,
    Off,
}

#[derive(Debug, Args)]
pub struct DeleteServiceAccountArgs {
    /// The account's name.
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key now; it signs after the publish delay, and
    /// the old key stays published until its last token has expired.
    Rotate,
}
