//! One running instance per data dir: two services writing one SQLite file
//! from two processes would share it silently (two stacks started on the
//! same `./data` with other ports, say). The lock is an advisory file lock
//! the OS drops when the process ends, however it ends.

use std::{
    fs::{File, OpenOptions, TryLockError},
    path::Path,
};

use anyhow::Context as _;

/// Held for as long as the service runs; dropping it releases the dir.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Locks `dir` for `service`, or says which dir is in use and what to
    /// do instead.
    pub fn acquire(dir: &Path, service: &str) -> anyhow::Result<Self> {
        let path = dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the data dir's lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => anyhow::bail!(
                "the data dir {} is in use by another {service} (it holds {}): give each instance a \
                 --data-dir of its own, or let instances share one PostgreSQL database (--database-url)",
                dir.display(),
                path.display()
            ),
            Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_until_the_first_is_dropped() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let first = DataDirLock::acquire(dir.path(), "auth-service")?;
        let second = DataDirLock::acquire(dir.path(), "auth-service").err().map(|e| e.to_string());
        let message = second.unwrap_or_default();
        assert!(message.contains("is in use by another auth-service"), "{message}");
        drop(first);
        DataDirLock::acquire(dir.path(), "auth-service")?;
        Ok(())
    }
}
