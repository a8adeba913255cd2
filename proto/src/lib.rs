//! The authpair gRPC contract. This is the only crate with generated code.
//!
//! - [`auth::v1`]: `AuthService` (public: login, refresh, JWKS) and
//!   `AdminService` (role `admin`).
//! - [`resource::v1`]: `ResourceService`.
//! - [`FILE_DESCRIPTOR_SET`], [`ERROR_DETAILS_DESCRIPTOR_SET`]: encoded
//!   descriptors for gRPC reflection.
//! - [`METHODS`]: every RPC path in the .proto files, so the method policy can
//!   be proven complete.
//! - `redact`: hand-written Debug for the messages that carry secrets.

mod redact;

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

/// The encoded `FileDescriptorSet` of every authpair .proto file.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/authpair_descriptor.bin"));

/// The encoded descriptors of the google.rpc error details authpair sends, so
/// reflection clients such as grpcurl can decode them. No Rust code is
/// generated for these; use tonic-types.
pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/error_details_descriptor.bin"));

include!(concat!(env!("OUT_DIR"), "/methods.rs"));
