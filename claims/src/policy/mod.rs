//! The method policy: what every RPC requires of its caller.
//!
//! A service declares it in its own .proto files, as a
//! `(authpair.policy.v1.policy)` option on each method (the option is
//! defined in `authpair/policy/v1/policy.proto`, which this crate ships as
//! [`POLICY_PROTO`]). [`Policy::from_descriptors`] reads the options from the
//! service's encoded descriptor set (the same bytes it hands gRPC reflection)
//! at startup, and refuses to build a policy if any method of the named
//! services has none. The standard health and reflection methods are added
//! as public.
//!
//! Names are data: which roles, scopes and quotas exist is the deployment's
//! configuration ([`Vocabulary`]), and [`Policy::check_names`] refuses a
//! policy that names one the deployment does not know.
//!
//! [`Rule::authorize`] checks, in order: public or authenticated, the token's
//! audience, the kind of principal, the roles (any one of), the scopes (all
//! of). Ownership is checked by handlers with [`authorize_owner`]; quotas by
//! the auth layer (`crate::layer`).
//!
//! - `rules`: [`Rule`], [`Policy`] and how they are read and checked;
//!   [`authorize_owner`] for handlers.
//! - [`quota`]: the [`QuotaLimiter`] the auth layer asks for per-plan quotas.
//!
//! [`Vocabulary`]: crate::Vocabulary

pub mod quota;
mod rules;

pub use quota::QuotaLimiter;
pub(crate) use rules::MethodTable;
pub use rules::{
    Access, POLICY_EXTENSION, POLICY_PROTO, Policy, PolicyError, Principal, Rule, STANDARD_METHODS, authorize_owner,
};
