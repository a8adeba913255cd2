//! How signing keys are kept in the database: sealed with the master key
//! (`--master-key-file`), or in plaintext only when the operator said so
//! (`--allow-plaintext-keys`). Decides, per stored key, how to open it and
//! what it becomes at start: plaintext is sealed, a key sealed with
//! `--previous-master-key-file` is re-sealed with the current one.

use secrecy::SecretString;

use crate::{
    config::Config,
    keys::sealing::{HOW_TO_CREATE, MasterKey, OpenError, StoredKey, classify, create_master_key_file},
};

/// The start is refused with this when neither a master key nor
/// `--allow-plaintext-keys` was given.
pub const NO_MASTER_KEY: &str = "no master key to seal the signing keys with: pass --master-key-file \
     (AUTH_MASTER_KEY_FILE), a file of 32 random bytes in base64, or --allow-plaintext-keys to store them \
     unencrypted";

#[derive(Debug)]
pub enum KeysAtRest {
    Sealed { current: MasterKey, previous: Option<MasterKey> },
    Plaintext,
}

impl KeysAtRest {
    /// Reads the master key files the config names (creating the current one
    /// first if the config says to), or refuses to start without one unless
    /// plaintext keys are allowed, and then warns.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let Some(path) = &config.master_key_file else {
            anyhow::ensure!(config.allow_plaintext_keys, "{NO_MASTER_KEY} ({HOW_TO_CREATE})");
            tracing::warn!(
                "--allow-plaintext-keys: signing keys are stored unencrypted; a copy of the database can forge tokens"
            );
            return Ok(Self::Plaintext);
        };
        if config.create_master_key_file && create_master_key_file(path)? {
            tracing::info!(path = %path.display(), "created a master key for the signing keys");
        }
        let current = MasterKey::read_file(path)?;
        let previous = config.previous_master_key_file.as_deref().map(MasterKey::read_file).transpose()?;
        Ok(Self::Sealed { current, previous })
    }

    /// The form a new key is stored in.
    pub fn store(&self, kid: &str, pem: &SecretString) -> anyhow::Result<SecretString> {
        match self {
            Self::Sealed { current, .. } => Ok(current.seal(kid, pem)?.into()),
            Self::Plaintext => Ok(pem.clone()),
        }
    }

    /// A stored key's PEM. Plaintext opens in either mode, so a key another
    /// instance wrote before it was upgraded still loads.
    pub fn open(&self, kid: &str, stored: &str) -> anyhow::Result<SecretString> {
        let opened = match (self, classify(stored)) {
            (_, Ok(StoredKey::Plaintext)) => Ok(stored.into()),
            (Self::Sealed { current, previous }, Ok(StoredKey::Sealed { check })) => match previous {
                Some(previous) if check == previous.check_value() => previous.open(kid, stored),
                _ => current.open(kid, stored),
            },
            (Self::Plaintext, Ok(StoredKey::Sealed { check })) => {
                Err(OpenError::NoMasterKey { sealed_with: check.to_owned() })
            }
            (_, Err(e)) => Err(e),
        };
        opened.map_err(|e| refused(kid, e))
    }

    /// What a stored key becomes at start: sealed with the current master
    /// key, or None to stay as it is. Fails for a key no master key given
    /// opens, so the start stops before anything is rewritten.
    pub fn reseal(&self, kid: &str, stored: &str) -> anyhow::Result<Option<String>> {
        let Self::Sealed { current, previous } = self else {
            self.open(kid, stored)?;
            return Ok(None);
        };
        match classify(stored).map_err(|e| refused(kid, e))? {
            StoredKey::Sealed { check } if check == current.check_value() => Ok(None),
            StoredKey::Plaintext => Ok(Some(current.seal(kid, &stored.into())?)),
            StoredKey::Sealed { check } => match previous {
                Some(previous) if check == previous.check_value() => {
                    let pem = previous.open(kid, stored).map_err(|e| refused(kid, e))?;
                    Ok(Some(current.seal(kid, &pem)?))
                }
                _ => Err(refused(
                    kid,
                    OpenError::OtherMasterKey { sealed_with: check.to_owned(), ours: current.check_value().to_owned() },
                )),
            },
        }
    }
}

/// The start-up error for a key that does not open, with what to do.
fn refused(kid: &str, error: OpenError) -> anyhow::Error {
    let hint = match &error {
        OpenError::OtherMasterKey { .. } => {
            ": start with the master key that sealed it, or pass that one as --previous-master-key-file to re-seal \
             with this one"
        }
        OpenError::NoMasterKey { .. } => ": pass the --master-key-file that sealed it",
        OpenError::Tampered | OpenError::Unknown => "",
    };
    anyhow::anyhow!("signing key {kid} {error}{hint}")
}
