//! Compiles `proto/orders/v1/orders.proto` without a system protoc
//! (protox), importing authpair's policy option from the directory that
//! authpair-claims hands its dependents (`DEP_AUTHPAIR_POLICY_PROTO`).
//! Writes the tonic/prost code and the encoded descriptor set, which the
//! service reads its method policy from and serves over reflection.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let policy_proto = env::var("DEP_AUTHPAIR_POLICY_PROTO")?;
    println!("cargo::rerun-if-changed=proto");
    let mut compiler = protox::Compiler::new(["proto", policy_proto.as_str()])?;
    compiler.include_imports(true).open_files(["orders/v1/orders.proto"])?;
    fs::write(out.join("orders_descriptor.bin"), compiler.encode_file_descriptor_set())?;
    tonic_prost_build::configure().compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
