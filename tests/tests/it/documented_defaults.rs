//! The defaults docs/configuration.md documents are the values the
//! services take: each service's empty command line, parsed, equals the
//! same command line with every documented `[default: …]` written out. A
//! default kept anywhere but the flag's own definition (a second literal in
//! a constructor or a `Default`) shows here as a difference; together with
//! `configuration_docs` (the document is the binaries' own `--help`), the
//! document, the definitions and the values agree.

use authpair_server::config::ServiceConfig;
use authpair_tests::{TestResult, repo_root};

/// The `(flag, value)` pairs `binary --help`'s block in the document gives
/// a default: `--flag <VALUE>` opens an option, `[default: …]` closes it.
fn documented_defaults(binary: &str) -> anyhow::Result<Vec<(String, String)>> {
    let doc = std::fs::read_to_string(repo_root().join("docs/configuration.md"))?;
    let marker = format!("<!-- help: {binary} -->\n");
    let start = doc.find(&marker).ok_or_else(|| anyhow::anyhow!("no block for {binary}"))? + marker.len();
    let block = &doc[start..];
    let block = &block[..block.find("<!-- end help -->").unwrap_or(block.len())];
    let mut defaults = Vec::new();
    let mut flag = None;
    for line in block.lines() {
        if let Some(option) = line.strip_prefix("      --") {
            flag = option.split_whitespace().next().map(str::to_owned);
        }
        // At the end of the description, or on a line of its own.
        let Some((_, value)) = line.split_once("[default: ") else { continue };
        let name = flag.take().ok_or_else(|| anyhow::anyhow!("{binary}: a default outside any option: {line}"))?;
        let value = value.strip_suffix(']').ok_or_else(|| anyhow::anyhow!("--{name}: unclosed default"))?;
        defaults.push((name, value.to_owned()));
    }
    Ok(defaults)
}

/// Parses `binary` with no flags and with each documented default written
/// out, and compares (Debug, which every configuration derives or redacts).
fn defaults_hold<C: ServiceConfig + std::fmt::Debug>(binary: &str, expected_at_least: usize) -> TestResult {
    let empty = format!("{:?}", C::from_flags([binary])?);
    let defaults = documented_defaults(binary)?;
    assert!(
        defaults.len() >= expected_at_least,
        "{binary}: only {} documented defaults found; is the document's format what this test reads?",
        defaults.len()
    );
    for (flag, value) in &defaults {
        let written = C::from_flags([binary, &format!("--{flag}"), value])
            .map_err(|e| format!("{binary} --{flag} {value:?} (its documented default) does not parse: {e}"))?;
        assert_eq!(
            format!("{written:?}"),
            empty,
            "{binary} --{flag}: the documented default {value:?} is not the value taken"
        );
    }
    Ok(())
}

#[test]
fn the_auth_services_documented_defaults_are_the_values_it_takes() -> TestResult {
    defaults_hold::<auth_service::Config>("auth-service", 30)
}

#[test]
fn the_resource_services_documented_defaults_are_the_values_it_takes() -> TestResult {
    defaults_hold::<resource_service::Config>("resource-service", 20)
}

#[test]
fn the_gates_documented_defaults_are_the_values_it_takes() -> TestResult {
    defaults_hold::<authpair_gate::Config>("authpair-gate", 20)
}
