//! SH-04: the crypto dependency and how the product code may use it, read
//! from what cargo resolves and from the workspace's own sources.

use std::{path::Path, process::Command};

use authpair_tests::{TestResult, repo_root, rust_files};

/// The workspace as cargo resolves it for this machine: the lock file,
/// every member's features unified. Filtered to the host's platform, the
/// one these tests build for: unfiltered, an offline resolve needs every
/// other platform's crates too, which a fresh machine has never fetched.
fn cargo_metadata() -> TestResult<serde_json::Value> {
    let host = Command::new("rustc").args(["--print", "host-tuple"]).output()?;
    assert!(host.status.success(), "rustc --print host-tuple: {}", String::from_utf8_lossy(&host.stderr));
    let host = String::from_utf8(host.stdout)?;
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", host.trim()])
        .current_dir(repo_root())
        .output()?;
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// jsonwebtoken's version and enabled features.
fn jsonwebtoken_as_resolved() -> TestResult<(String, Vec<String>)> {
    let metadata = cargo_metadata()?;
    let packages: Vec<&serde_json::Value> =
        metadata["packages"].as_array().ok_or("no packages")?.iter().filter(|p| p["name"] == "jsonwebtoken").collect();
    let [package] = packages.as_slice() else {
        return Err(format!("expected exactly one jsonwebtoken in the build, found {}", packages.len()).into());
    };
    let node = metadata["resolve"]["nodes"]
        .as_array()
        .ok_or("no resolve graph")?
        .iter()
        .find(|n| n["id"] == package["id"])
        .ok_or("jsonwebtoken is not in the resolve graph")?;
    let features = node["features"].as_array().ok_or("no features")?;
    let features = features.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect();
    Ok((package["version"].as_str().ok_or("no version")?.to_owned(), features))
}

#[test]
fn sh_04_jsonwebtoken_is_at_least_10_3_and_built_with_exactly_one_crypto_backend() -> TestResult {
    let (version, features) = jsonwebtoken_as_resolved()?;
    let mut parts = version.split('.').map(|p| p.parse::<u64>());
    let (major, minor) = (parts.next().ok_or("no major")??, parts.next().ok_or("no minor")??);
    assert!((major, minor) >= (10, 3), "jsonwebtoken {version} is older than 10.3.0");
    // With none or both, jsonwebtoken compiles and then panics at first use.
    let backends: Vec<&String> =
        features.iter().filter(|f| ["rust_crypto", "aws_lc_rs"].contains(&f.as_str())).collect();
    assert_eq!(backends, ["rust_crypto"], "jsonwebtoken features: {features:?}");
    Ok(())
}

#[test]
fn sh_04_the_product_code_never_skips_verification_and_signs_and_checks_its_tokens_with_ed25519_alone() -> TestResult {
    // Spelled in pieces, so that a grep of the repository for them (the
    // matrix's own check) finds only real uses, not this list.
    let forbidden = [
        concat!("insecure", "_decode"),
        concat!("dangerous", "::"),
        concat!("from_", "rsa"),
        concat!("from_", "secret"),
        concat!("from_", "base64_secret"),
        concat!("from_", "ec_"),
    ];
    // Every workspace member's sources but this test crate's, so that a
    // member added later is scanned too.
    let metadata = cargo_metadata()?;
    let members = metadata["workspace_members"].as_array().ok_or("no workspace members")?;
    let mut files = Vec::new();
    for package in metadata["packages"].as_array().ok_or("no packages")? {
        if !members.contains(&package["id"]) || package["name"] == env!("CARGO_PKG_NAME") {
            continue;
        }
        let manifest = Path::new(package["manifest_path"].as_str().ok_or("no manifest path")?);
        files.extend(rust_files(&manifest.parent().ok_or("manifest at the root")?.join("src"))?);
    }
    assert!(files.len() > 20, "the scan found the product's sources: {} files", files.len());
    let mut hits = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        for (n, line) in text.lines().enumerate() {
            hits.extend(
                forbidden.iter().filter(|f| line.contains(**f)).map(|f| format!("{}:{}: {f}", file.display(), n + 1)),
            );
            // The only JWT algorithm the product signs or verifies its own
            // tokens with is EdDSA (argon2's `Algorithm` is the password
            // hash's). Client assertions (RFC 7523) are signed with the
            // client's own key, which may also be P-256 or RSA: that one
            // file may name ES256, RS256 and PS256, and never an HMAC.
            let client_keys = file.ends_with("identity/assertion.rs");
            for (at, _) in line.match_indices("Algorithm::") {
                let rest = &line[at + "Algorithm::".len()..];
                let allowed: &[&str] =
                    if client_keys { &["EdDSA", "ES256", "RS256", "PS256"] } else { &["EdDSA", "Argon2id"] };
                if !allowed.iter().any(|a| rest.starts_with(a)) {
                    hits.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "forbidden in product code:\n{}", hits.join("\n"));
    Ok(())
}
