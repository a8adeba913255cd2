//! The signing key on disk: generated on first start, then reused, so a
//! restart does not invalidate tokens. The file is created with mode 0600
//! atomically (no window where it is readable by others).

use std::{
    fs,
    io::{ErrorKind, Write},
    path::Path,
};

use anyhow::Context;
use authpair_claims::SigningKey;
use secrecy::ExposeSecret;

pub const KEY_FILE: &str = "signing-key.pem";

pub fn load_or_create(data_dir: &Path) -> anyhow::Result<SigningKey> {
    let path = data_dir.join(KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(pem) => {
            check_private(&path)?;
            return SigningKey::from_pkcs8_pem(&pem).with_context(|| format!("reading {}", path.display()));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let key = SigningKey::generate()?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(key.to_pkcs8_pem()?.expose_secret().as_bytes())?;
    file.sync_all()?;
    tracing::info!(kid = key.kid(), path = %path.display(), "generated a new signing key");
    Ok(key)
}

/// Refuses to use a key file others can read or write.
fn check_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode();
        anyhow::ensure!(
            mode & 0o077 == 0,
            "{} must not be accessible to group or others (mode {:o})",
            path.display(),
            mode & 0o777
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_with_mode_0600_and_reloaded() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let first = load_or_create(dir.path())?;
        let second = load_or_create(dir.path())?;
        assert_eq!(first.kid(), second.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))?.permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        Ok(())
    }
}
