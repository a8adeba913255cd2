//! The `authpair-load` binary: run, print, optionally write JSON, and exit
//! non-zero if any call ended in a status the mode does not expect.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = authpair_load::Options::parse();
    let report = authpair_load::run(&options).await?;
    print!("{report}");
    if let Some(path) = &options.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if !report.unexpected.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
