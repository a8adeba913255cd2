//! docs/configuration.md holds every binary's `--help`, and every
//! subcommand's, verbatim: a flag added, renamed or redocumented in the code
//! fails this test until `scripts/config-docs.sh` has regenerated the file.

use std::{path::Path, process::Command};

use authpair_tests::{TestResult, binary_path};

/// Every binary the workspace ships; each must have a block of its own.
const BINARIES: &[&str] = &[
    "auth-service",
    "resource-service",
    "authpair-gate",
    "authpair-stack",
    "authpair",
    "orders-service",
    "authpair-load",
    "authpair-naive-eddsa",
];

const HOW_TO_FIX: &str = "run scripts/config-docs.sh to regenerate docs/configuration.md";

/// `binary args… --help` with an empty environment, as the script runs it
/// (clap prints a flag's environment variable's value when it is set).
fn help(command: &[&str]) -> anyhow::Result<String> {
    let (binary, args) = command.split_first().ok_or_else(|| anyhow::anyhow!("empty command"))?;
    let output = Command::new(binary_path(binary)?).args(args).arg("--help").env_clear().output()?;
    anyhow::ensure!(output.status.success(), "{command:?} --help failed: {output:?}");
    Ok(String::from_utf8(output.stdout)?)
}

/// The subcommands a help text lists under "Commands:", except `help`.
fn subcommands(help: &str) -> Vec<&str> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect()
}

/// The documented blocks: (command, help text).
fn documented(doc: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find("<!-- help: ") {
        let after = &rest[start + "<!-- help: ".len()..];
        let Some((command, body)) = after.split_once(" -->\n```text\n") else { break };
        let Some((text, tail)) = body.split_once("\n```\n<!-- end help -->") else { break };
        blocks.push((command.to_owned(), text.to_owned()));
        rest = tail;
    }
    blocks
}

#[test]
fn every_flag_of_every_binary_is_documented_as_its_help_says() -> TestResult {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let doc = std::fs::read_to_string(&path)?;
    let blocks = documented(&doc);
    let names: Vec<&str> = blocks.iter().map(|(command, _)| command.as_str()).collect();

    // Walk every binary and subcommand as the script does.
    let mut expected: Vec<Vec<String>> = BINARIES.iter().map(|b| vec![(*b).to_owned()]).collect();
    let mut i = 0;
    while let Some(command) = expected.get(i).cloned() {
        i += 1;
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        let actual = help(&words)?;
        let name = words.join(" ");
        let Some((_, text)) = blocks.iter().find(|(c, _)| *c == name) else {
            return Err(format!("docs/configuration.md has no block for `{name} --help`: {HOW_TO_FIX}").into());
        };
        assert_eq!(
            text.trim_end(),
            actual.trim_end(),
            "`{name} --help` differs from docs/configuration.md: {HOW_TO_FIX}"
        );
        for sub in subcommands(&actual) {
            let mut next = command.clone();
            next.push(sub.to_owned());
            expected.push(next);
        }
    }
    let walked: Vec<String> = expected.iter().map(|c| c.join(" ")).collect();
    for name in names {
        assert!(
            walked.iter().any(|w| w == name),
            "docs/configuration.md documents `{name}`, which no binary has: {HOW_TO_FIX}"
        );
    }
    Ok(())
}
