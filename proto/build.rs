//! Compiles the .proto files in pure Rust (protox, no system protoc), then
//! writes four things into OUT_DIR: the tonic/prost code, the encoded
//! descriptor set and that of the google.rpc error details (both for
//! reflection), and the list of every RPC path (for the
//! policy-completeness check).

use std::{env, fmt::Write as _, fs, path::PathBuf};

use prost::Message as _;

const PROTOS: &[&str] = &["auth/v1/auth.proto", "resource/v1/resource.proto"];

/// Messages that carry passwords or tokens: their Debug is written by hand
/// in `src/redact.rs` so a stray `{:?}` can never print a secret.
const SECRET_MESSAGES: &[&str] = &[
    ".auth.v1.LoginRequest",
    ".auth.v1.RefreshRequest",
    ".auth.v1.LogoutRequest",
    ".auth.v1.TokenResponse",
    ".auth.v1.CreateUserRequest",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(PROTOS, ["proto"])?;
    fs::write(out.join("authpair_descriptor.bin"), fds.encode_to_vec())?;
    // For reflection only: lets grpcurl decode ErrorInfo and RetryInfo.
    let details = protox::compile(["google/rpc/error_details.proto"], ["proto"])?;
    fs::write(out.join("error_details_descriptor.bin"), details.encode_to_vec())?;

    let mut methods =
        String::from("/// Every RPC path declared in the .proto files.\npub const METHODS: &[&str] = &[\n");
    for file in &fds.file {
        for service in &file.service {
            for method in &service.method {
                writeln!(methods, "    \"/{}.{}/{}\",", file.package(), service.name(), method.name())?;
            }
        }
    }
    methods.push_str("];\n");
    fs::write(out.join("methods.rs"), methods)?;

    tonic_prost_build::configure().skip_debug(SECRET_MESSAGES).compile_fds(fds)?;
    Ok(())
}
