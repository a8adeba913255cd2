//! Hands the directory of `authpair/policy/v1/policy.proto` to the build
//! scripts of crates that depend on this one, as `DEP_AUTHPAIR_POLICY_PROTO`
//! (Cargo's `links` metadata), so a service's `build.rs` can compile its own
//! .proto files that import the policy option. The file belongs to
//! authpair-proto, whose build prints its directory to this script as
//! `DEP_AUTHPAIR_PROTO_POLICY_PROTO`; a service that depends only on this
//! crate reads it here.

fn main() -> Result<(), std::env::VarError> {
    let dir = std::env::var("DEP_AUTHPAIR_PROTO_POLICY_PROTO")?;
    println!("cargo::rerun-if-env-changed=DEP_AUTHPAIR_PROTO_POLICY_PROTO");
    println!("cargo::metadata=proto={dir}");
    Ok(())
}
