//! Hands the directory of `authpair/policy/v1/policy.proto` to the build
//! scripts of crates that depend on this one, as `DEP_AUTHPAIR_POLICY_PROTO`
//! (Cargo's `links` metadata), so a service's `build.rs` can compile its own
//! .proto files that import the policy option.

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    println!("cargo::rerun-if-changed=proto");
    println!("cargo::metadata=proto={}", dir.display());
}
