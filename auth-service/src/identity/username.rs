//! CreateUser's refusals of a new username, as gRPC statuses. What a
//! username is (its canonical form, its confusable skeleton, the script
//! check) is `authpair_username`'s, shared with the admin CLI.

pub use authpair_username::{MixedScripts, Unenforceable, canonical, lookup_key, scripts, skeleton};
use tonic_types::{ErrorDetails, StatusExt as _};

/// Why a new name that has a canonical form is still refused: the answers
/// CreateUser gives, the new ones with a `google.rpc.ErrorInfo` reason to
/// branch on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// ALREADY_EXISTS "username already exists": an account has this
    /// canonical form.
    Taken,
    /// INVALID_ARGUMENT, reason `USERNAME_MIXED_SCRIPT`.
    MixedScripts(MixedScripts),
    /// ALREADY_EXISTS, reason `USERNAME_CONFUSABLE`: the name's skeleton is
    /// that of an account's, named (only admins create users, and they can
    /// list every name anyway), so the admin knows which one it imitates.
    LooksLike { existing: String },
}

impl From<Refusal> for tonic::Status {
    fn from(refusal: Refusal) -> Self {
        let (code, message, reason, metadata) = match refusal {
            Refusal::Taken => return tonic::Status::already_exists("username already exists"),
            Refusal::MixedScripts(mixed) => {
                let scripts = mixed.0.join(",");
                (tonic::Code::InvalidArgument, mixed.to_string(), "USERNAME_MIXED_SCRIPT", ("scripts", scripts))
            }
            Refusal::LooksLike { existing } => (
                tonic::Code::AlreadyExists,
                format!("username looks like the existing username {existing:?} (UTS #39 confusables)"),
                "USERNAME_CONFUSABLE",
                ("existing_username", existing),
            ),
        };
        let metadata = std::collections::HashMap::from([(metadata.0.to_owned(), metadata.1)]);
        let details = ErrorDetails::with_error_info(reason, authpair_claims::ERROR_DOMAIN, metadata);
        tonic::Status::with_error_details(code, message, details)
    }
}
