//! Compiles the .proto files in pure Rust (protox, no system protoc), then
//! writes into OUT_DIR:
//! - the tonic/prost code;
//! - the encoded descriptor sets, ours and the google.rpc error details (both
//!   for reflection, so grpcurl can describe methods and decode details; the
//!   services read their method policies from ours at startup).
//!
//! With feature `envoy`, also Envoy's external authorization API from the
//! vendored files in `envoy/`: its code and its descriptor set.
//!
//! The policy option's own .proto file is in `policy/`, a directory of its
//! own: it is printed to dependents' build scripts as
//! `DEP_AUTHPAIR_PROTO_POLICY_PROTO` (Cargo's `links` metadata), so the
//! crate that enforces the option (authpair-claims) can hand exactly that
//! directory on to every protected service.

use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &["auth/v1/auth.proto", "resource/v1/resource.proto"];

/// The Envoy service `authpair-gate` implements (feature `envoy`).
const ENVOY_AUTHORIZATION: &str = "envoy/service/auth/v3/external_auth.proto";

/// Messages that carry passwords or tokens: their Debug is written by hand
/// in `src/redact.rs` so a stray `{:?}` can never print a secret.
const SECRET_MESSAGES: &[&str] = &[
    ".auth.v1.LoginRequest",
    ".auth.v1.RefreshRequest",
    ".auth.v1.LogoutRequest",
    ".auth.v1.LoginResponse",
    ".auth.v1.RefreshResponse",
    ".auth.v1.IssueServiceTokenResponse",
    ".auth.v1.CreateUserRequest",
    ".auth.v1.IssueServiceTokenRequest",
    ".auth.v1.CreateServiceAccountResponse",
    ".auth.v1.IntrospectRequest",
];

/// Envoy's messages that carry a request's headers, its body or its query
/// string (a bearer token, cookies): Debug by hand in `src/redact.rs` too.
const ENVOY_SECRET_MESSAGES: &[&str] = &[
    ".envoy.service.auth.v3.AttributeContext.HttpRequest",
    ".envoy.config.core.v3.HeaderValue",
    ".envoy.config.core.v3.HeaderMap",
];

type BoxError = Box<dyn std::error::Error>;

fn main() -> Result<(), BoxError> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let policy = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("policy");
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=policy");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::metadata=policy_proto={}", policy.display());

    let mut compiler = protox::Compiler::new(["proto", "policy"])?;
    compiler.include_imports(true).include_source_info(true).open_files(PROTOS)?;
    fs::write(out.join("authpair_descriptor.bin"), compiler.encode_file_descriptor_set())?;

    let details = protox::compile(["google/rpc/error_details.proto"], ["proto"])?;
    fs::write(out.join("error_details_descriptor.bin"), prost::Message::encode_to_vec(&details))?;

    tonic_prost_build::configure().skip_debug(SECRET_MESSAGES).compile_fds(compiler.file_descriptor_set())?;

    if env::var_os("CARGO_FEATURE_ENVOY").is_some() {
        envoy(&out)?;
    }
    Ok(())
}

/// Envoy's external authorization API from the vendored files in `envoy/`
/// (see its README): the types in `OUT_DIR/envoy/` with one module file
/// nesting them by package, and the descriptor set for reflection.
fn envoy(out: &std::path::Path) -> Result<(), BoxError> {
    println!("cargo:rerun-if-changed=envoy");
    let mut compiler = protox::Compiler::new(["envoy"])?;
    compiler.include_imports(true).open_files([format!("envoy/{ENVOY_AUTHORIZATION}")])?;
    fs::write(out.join("envoy_descriptor.bin"), compiler.encode_file_descriptor_set())?;
    let dir = out.join("envoy");
    fs::create_dir_all(&dir)?;
    tonic_prost_build::configure()
        .out_dir(&dir)
        .include_file("mod.rs")
        .skip_debug(ENVOY_SECRET_MESSAGES)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
