//! The client side: a tower layer for a tonic `Channel` that carries its own
//! token.
//!
//! Given a [`TokenSource`] (a service account's credentials, or a user's
//! refresh token), [`BearerLayer`] attaches `authorization: Bearer <token>`
//! to every call. The [`TokenCache`] behind it fetches a fresh token once the
//! current one is in the last fifth of its life, and holds a lock while it
//! does, so two callers never refresh at once: the second waits and uses the
//! first one's token. A call answered UNAUTHENTICATED with reason
//! TOKEN_EXPIRED (a clock skew, or a token that expired in flight),
//! TOKEN_REVOKED (someone revoked this token; the credentials may still be
//! good), TOKEN_INVALID (the deployment's issuer or keys changed since it
//! was issued) or UNKNOWN_ROLE (a role it carries was removed) is retried
//! once with a renewed token. If the credentials were revoked too, the
//! renewal fails and that is the answer. For the last two, only a token
//! older than [`MIN_AGE_TO_RENEW_INVALID`] is renewed: a newer one was
//! issued under the rules that refused it, so a client whose configuration
//! is wrong (an audience the server does not take, say) gets its refusal
//! instead of fetching a token for every call.
//!
//! To be able to retry, the layer buffers the request body: fine for unary
//! and server-streaming calls (one request message), not for long
//! client-streaming ones.
//!
//! - `source`: [`TokenSource`] and the two sources, [`ServiceCredentials`]
//!   and [`RefreshTokenSource`].
//! - `cache`: [`TokenCache`], the current token and when to renew it.
//! - `layer`: [`BearerLayer`] and its service [`Bearer`], which attach the
//!   token and retry once with a renewed one.
//! - `exchange`: [`TokenExchange`], a user's token traded for one the next
//!   service takes, to call it on the user's behalf (RFC 8693).

mod cache;
mod exchange;
mod layer;
mod source;

pub use cache::{MIN_AGE_TO_RENEW_INVALID, TokenCache};
pub use exchange::TokenExchange;
pub use layer::{Bearer, BearerLayer};
pub use source::{FetchedToken, RefreshTokenSource, ServiceCredentials, TokenSource};
