//! Secrets from files: every flag whose environment value is hidden (a
//! database URL, a client secret, a bootstrap account) also reads
//! `<VARIABLE>_FILE`, the path of a file that holds the value, as
//! Kubernetes and compose mount secrets. One trailing line break is set
//! aside. The flag on the command line, or the variable itself, wins.
//! A value read this way is never shown: a refused one is reported by the
//! file's variable and path, with the reason only.

use std::ffi::{OsStr, OsString};

/// A value read from a file, as an argument, and where it came from.
#[derive(Debug)]
pub(super) struct FromFile {
    /// `--flag`, as clap names it in errors.
    pub long: String,
    /// `<VARIABLE>_FILE`.
    pub variable: String,
    /// The file's path, as the variable gave it.
    pub path: OsString,
}

/// The `--flag=value` arguments for every hidden-value flag of `command`
/// that neither `args` nor the environment sets but whose `_FILE`
/// variable does, with their origins; `var` reads the environment.
pub(super) fn read(
    command: &clap::Command,
    args: &[OsString],
    var: impl Fn(&str) -> Option<OsString>,
) -> Result<(Vec<OsString>, Vec<FromFile>), clap::Error> {
    let mut values = Vec::new();
    let mut origins = Vec::new();
    for arg in command.get_arguments().filter(|a| a.is_hide_env_values_set()) {
        let (Some(long), Some(variable)) = (arg.get_long(), arg.get_env().and_then(OsStr::to_str)) else { continue };
        let file_variable = format!("{variable}_FILE");
        let Some(path) = var(&file_variable) else { continue };
        if super::typed(args, long) || var(variable).is_some() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            clap::Error::raw(clap::error::ErrorKind::Io, format!("{file_variable}={}: {e}\n", path.to_string_lossy()))
        })?;
        let value = text.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&text);
        values.push(OsString::from(format!("--{long}={value}")));
        origins.push(FromFile { long: long.to_owned(), variable: file_variable, path });
    }
    Ok((values, origins))
}

/// `error`, if clap refused a value read from a file, as the file's
/// variable and path with the reason, never the value.
pub(super) fn name_the_file(error: clap::Error, origins: &[FromFile]) -> clap::Error {
    let Some((long, why)) = super::refused_value(&error) else { return error };
    let Some(origin) = origins.iter().find(|o| o.long == long) else { return error };
    clap::Error::raw(
        error.kind(),
        format!("{}={} is not valid for --{long}: {why}\n", origin.variable, origin.path.to_string_lossy()),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::{CommandFactory as _, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[arg(long, env = "T_SECRET", hide_env_values = true, value_parser = crate::config::parse_secret)]
        secret: Option<secrecy::SecretString>,
        #[arg(long, env = "T_PLAIN")]
        plain: Option<String>,
    }

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<(Vec<OsString>, Vec<FromFile>), clap::Error> {
        let env: HashMap<String, OsString> = env.iter().map(|(k, v)| ((*k).to_owned(), OsString::from(v))).collect();
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        read(&Flags::command(), &args, |name| env.get(name).cloned())
    }

    #[test]
    fn a_secret_flag_reads_its_file_variable_less_one_line_break_unless_set_otherwise() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret-value\r\n")?;
        let path = file.to_str().unwrap_or_default();
        let (values, origins) = run(&["t"], &[("T_SECRET_FILE", path)])?;
        assert_eq!(values, [OsString::from("--secret=s3cret-value")]);
        assert_eq!((origins[0].long.as_str(), origins[0].variable.as_str()), ("secret", "T_SECRET_FILE"));
        // The flag, or the variable itself, wins; a flag that shows its
        // value reads no file.
        assert!(run(&["t", "--secret", "x"], &[("T_SECRET_FILE", path)])?.0.is_empty());
        assert!(run(&["t"], &[("T_SECRET_FILE", path), ("T_SECRET", "y")])?.0.is_empty());
        assert!(run(&["t"], &[("T_PLAIN_FILE", path)])?.0.is_empty());
        // A file that cannot be read is an error naming the variable and path.
        let missing = run(&["t"], &[("T_SECRET_FILE", "/nonexistent/secret")]).err().map(|e| e.to_string());
        assert!(missing.is_some_and(|m| m.contains("T_SECRET_FILE=/nonexistent/secret")));
        Ok(())
    }

    #[test]
    fn a_refused_value_from_a_file_is_reported_by_the_file_never_by_the_value() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("empty");
        std::fs::write(&file, "\n")?;
        let path = file.to_str().unwrap_or_default();
        let (mut values, origins) = run(&["t"], &[("T_SECRET_FILE", path)])?;
        values.insert(0, "t".into());
        let error = Flags::command().try_get_matches_from(values).err().map(|e| name_the_file(e, &origins).to_string());
        assert_eq!(error, Some(format!("error: T_SECRET_FILE={path} is not valid for --secret: must not be empty\n")));
        Ok(())
    }
}
