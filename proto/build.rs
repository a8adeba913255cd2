//! Compiles the .proto files in pure Rust (protox, no system protoc), then
//! writes into OUT_DIR:
//! - the tonic/prost code;
//! - the encoded descriptor sets, ours and the google.rpc error details (both
//!   for reflection, so grpcurl can describe methods and decode details);
//! - `policy.rs`: every RPC with its `(authpair.policy.v1.policy)` option,
//!   as a table. A method without the option fails the build.

use std::{env, fmt::Write as _, fs, path::PathBuf};

use prost_reflect::{DynamicMessage, ExtensionDescriptor, Value};

const PROTOS: &[&str] = &["auth/v1/auth.proto", "resource/v1/resource.proto"];

/// Messages that carry passwords or tokens: their Debug is written by hand
/// in `src/redact.rs` so a stray `{:?}` can never print a secret.
const SECRET_MESSAGES: &[&str] = &[
    ".auth.v1.LoginRequest",
    ".auth.v1.RefreshRequest",
    ".auth.v1.LogoutRequest",
    ".auth.v1.TokenResponse",
    ".auth.v1.CreateUserRequest",
    ".auth.v1.IssueServiceTokenRequest",
    ".auth.v1.CreateServiceAccountResponse",
];

type BoxError = Box<dyn std::error::Error>;

fn main() -> Result<(), BoxError> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true).open_files(PROTOS)?;
    fs::write(out.join("authpair_descriptor.bin"), compiler.encode_file_descriptor_set())?;
    fs::write(out.join("policy.rs"), policy_table(&compiler.descriptor_pool())?)?;

    let details = protox::compile(["google/rpc/error_details.proto"], ["proto"])?;
    fs::write(out.join("error_details_descriptor.bin"), prost::Message::encode_to_vec(&details))?;

    tonic_prost_build::configure().skip_debug(SECRET_MESSAGES).compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

fn policy_table(pool: &prost_reflect::DescriptorPool) -> Result<String, BoxError> {
    let extension = pool
        .get_extension_by_name("authpair.policy.v1.policy")
        .ok_or("the authpair.policy.v1.policy extension is not defined")?;
    let mut table = String::from(
        "/// Every RPC in the .proto files with its `(authpair.policy.v1.policy)` option.\n\
         pub const POLICY: &[MethodPolicy] = &[\n",
    );
    for file in pool.files().filter(|f| PROTOS.contains(&f.name())) {
        for service in file.services() {
            for method in service.methods() {
                let path = format!("/{}/{}", service.full_name(), method.name());
                let policy = method_policy(&method.options(), &extension)
                    .ok_or_else(|| format!("{path} has no (authpair.policy.v1.policy) option"))?;
                writeln!(table, "    MethodPolicy {{ path: {path:?}, {policy} }},")?;
            }
        }
    }
    table.push_str("];\n");
    Ok(table)
}

/// The fields of one policy option as Rust struct-literal fields.
fn method_policy(options: &DynamicMessage, extension: &ExtensionDescriptor) -> Option<String> {
    if !options.has_extension(extension) {
        return None;
    }
    let value = options.get_extension(extension);
    let Value::Message(policy) = value.as_ref() else { return None };
    let int = |name: &str| policy.get_field_by_name(name).and_then(|v| v.as_enum_number()).unwrap_or(0);
    let strings = |name: &str| -> Vec<String> {
        policy
            .get_field_by_name(name)
            .and_then(|v| v.as_list().map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()))
            .unwrap_or_default()
    };
    let access = match int("access") {
        1 => "Access::Public",
        2 => "Access::Authenticated",
        _ => return None,
    };
    let principal = match int("principal") {
        1 => "Principal::User",
        2 => "Principal::Service",
        _ => "Principal::Any",
    };
    let owner_checked = policy.get_field_by_name("owner_checked").and_then(|v| v.as_bool()).unwrap_or(false);
    let quota = policy.get_field_by_name("quota").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let quota = if quota.is_empty() { "None".to_owned() } else { format!("Some({quota:?})") };
    Some(format!(
        "access: {access}, principal: {principal}, any_role: &{:?}, scopes: &{:?}, owner_checked: {owner_checked}, quota: {quota}",
        strings("any_role"),
        strings("scopes"),
    ))
}
