//! The authpair gRPC contract. This is the only crate with generated code.
//!
//! - `auth::v1`: `AuthService` (login, refresh, JWKS, logout, service
//!   tokens, the revocation feed) and `AdminService` (role `admin`).
//! - `resource::v1`: `ResourceService` (status, profile, documents, search).
//! - `authpair::policy::v1`: the policy option's own message types.
//! - [`FILE_DESCRIPTOR_SET`], [`ERROR_DETAILS_DESCRIPTOR_SET`]: encoded
//!   descriptors for gRPC reflection and for reading the method policies
//!   (`authpair_claims::Policy::from_descriptors`).
//! - [`POLICY_PROTO`]: the policy option's own .proto file, whose directory
//!   the build prints as `DEP_AUTHPAIR_PROTO_POLICY_PROTO`.
//! - [`AUTH_SERVICES`], [`RESOURCE_SERVICES`]: the gRPC services each binary serves.
//! - `envoy_api`, [`ENVOY_DESCRIPTOR_SET`] (feature `envoy`): Envoy's
//!   external authorization API, vendored in `envoy/`, for `authpair-gate`.
//! - `redact`: hand-written Debug for the messages that carry secrets.
//! - `token_pair`: conversions between the three token responses, which
//!   have the same fields.

mod redact;
mod token_pair;

/// The generated types of the policy option itself (authpair.policy.v1).
pub mod authpair {
    pub mod policy {
        pub mod v1 {
            #![allow(missing_debug_implementations, clippy::all)]
            tonic::include_proto!("authpair.policy.v1");
        }
    }
}

pub mod auth {
    pub mod v1 {
        #![allow(missing_debug_implementations, clippy::all)]
        tonic::include_proto!("auth.v1");
    }
}

pub mod resource {
    pub mod v1 {
        #![allow(missing_debug_implementations, clippy::all)]
        tonic::include_proto!("resource.v1");
    }
}

/// Envoy's external authorization API (`envoy.service.auth.v3`) and the
/// messages it uses, generated from the vendored files in `envoy/`.
#[cfg(feature = "envoy")]
pub mod envoy_api {
    #![allow(missing_debug_implementations, missing_docs, clippy::all, rustdoc::all)]
    include!(concat!(env!("OUT_DIR"), "/envoy/mod.rs"));
}

/// The encoded descriptors of Envoy's external authorization API, for
/// reflection.
#[cfg(feature = "envoy")]
pub const ENVOY_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/envoy_descriptor.bin"));

/// The service `authpair-gate` serves.
#[cfg(feature = "envoy")]
pub const ENVOY_AUTHORIZATION_SERVICE: &str = "envoy.service.auth.v3.Authorization";

/// The encoded `FileDescriptorSet` of every authpair .proto file.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/authpair_descriptor.bin"));

/// The encoded descriptors of the google.rpc error details authpair sends, so
/// reflection clients such as grpcurl can decode them. No Rust code is
/// generated for these; use tonic-types.
pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/error_details_descriptor.bin"));

/// The policy option's definition (`authpair/policy/v1/policy.proto`), for
/// services that import it from their own .proto files.
pub const POLICY_PROTO: &str = include_str!("../policy/authpair/policy/v1/policy.proto");

/// The services the auth service serves.
pub const AUTH_SERVICES: &[&str] = &["auth.v1.AuthService", "auth.v1.AdminService"];
/// The services the resource service serves.
pub const RESOURCE_SERVICES: &[&str] = &["resource.v1.ResourceService"];
