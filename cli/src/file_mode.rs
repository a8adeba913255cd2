//! Whether the session file and its directory are the owner's alone.
//!
//! The file holds a refresh token good for days. If group or others can
//! write the file, or the directory it is in (and so replace the file),
//! what it says cannot be trusted, its URL least of all: it is refused
//! until the mode is fixed. If they can only read the file, its tokens may
//! have been copied: it is used, with a warning saying how to end them.
//! On systems without Unix modes nothing is checked.

use std::{io, path::Path};

use crate::error::CliError;

/// Refuses a directory that group or others may write to.
pub fn check_dir(dir: &Path) -> Result<(), CliError> {
    let Some(mode) = mode_of(dir)? else { return Ok(()) };
    if mode & 0o022 != 0 {
        return Err(CliError::other(format!(
            "{} is writable by group or others (mode {mode:04o}), so the session file in it could have been \
             replaced; make it yours alone: chmod 700 {}",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Refuses a file that group or others may write to; a warning for one
/// they may read. Nothing for a missing file.
pub fn check_file(file: &Path) -> Result<Option<String>, CliError> {
    let Some(mode) = mode_of(file)? else { return Ok(None) };
    if mode & 0o022 != 0 {
        return Err(CliError::other(format!(
            "{} is writable by group or others (mode {mode:04o}), so the sessions in it cannot be trusted; \
             make it yours alone: chmod 600 {}",
            file.display(),
            file.display()
        )));
    }
    if mode & 0o044 != 0 {
        return Ok(Some(format!(
            "warning: {} is readable by group or others (mode {mode:04o}), so its tokens may have been copied: \
             make it yours alone (chmod 600 {}), and end its sessions with `authpair logout` and log in again",
            file.display(),
            file.display()
        )));
    }
    Ok(None)
}

/// The permission bits of `path`; None if it does not exist (or on a
/// system without Unix modes).
fn mode_of(path: &Path) -> Result<Option<u32>, CliError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        match std::fs::metadata(path) {
            Ok(metadata) => Ok(Some(metadata.permissions().mode() & 0o7777)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::other(format!("{}: {e}", path.display()))),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, io::ErrorKind::NotFound);
        Ok(None)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::{fs, os::unix::fs::PermissionsExt as _};

    use super::*;

    fn with_mode(path: &Path, mode: u32) -> io::Result<()> {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }

    #[test]
    fn a_file_only_its_owner_can_use_passes_silently() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("session.json");
        assert_eq!(check_file(&file)?, None, "a missing file");
        fs::write(&file, "{}")?;
        for mode in [0o600, 0o400, 0o700] {
            with_mode(&file, mode)?;
            assert_eq!(check_file(&file)?, None, "{mode:o}");
        }
        Ok(())
    }

    #[test]
    fn a_file_others_can_read_is_used_with_a_warning() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("session.json");
        fs::write(&file, "{}")?;
        for mode in [0o640, 0o604, 0o644] {
            with_mode(&file, mode)?;
            let warning = check_file(&file)?.ok_or("no warning")?;
            assert!(warning.starts_with("warning: ") && warning.contains(&format!("mode 0{mode:o}")), "{warning}");
            assert!(warning.contains(&format!("chmod 600 {}", file.display())), "{warning}");
        }
        Ok(())
    }

    #[test]
    fn a_file_others_can_write_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("session.json");
        fs::write(&file, "{}")?;
        for mode in [0o620, 0o602, 0o666] {
            with_mode(&file, mode)?;
            let refused = check_file(&file).err().ok_or("accepted")?.to_string();
            assert!(refused.contains("writable by group or others"), "{refused}");
        }
        Ok(())
    }

    #[test]
    fn a_directory_others_can_write_is_refused_one_they_can_read_is_not() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        with_mode(dir.path(), 0o755)?;
        check_dir(dir.path())?;
        for mode in [0o770, 0o707, 0o777, 0o1777] {
            with_mode(dir.path(), mode)?;
            let refused = check_dir(dir.path()).err().ok_or("accepted")?.to_string();
            assert!(refused.contains(&format!("chmod 700 {}", dir.path().display())), "{refused}");
        }
        with_mode(dir.path(), 0o700)?;
        Ok(())
    }
}
