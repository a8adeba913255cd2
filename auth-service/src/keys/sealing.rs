//! The master key, and signing keys sealed with it for the database.
//!
//! A database dump holding a private signing key can forge any token, so the
//! key is stored sealed: XChaCha20-Poly1305 under a key derived from the
//! master key (HKDF-SHA256), a fresh random nonce per seal, and the key id as
//! associated data, so a sealed key copied into another row does not open.
//!
//! Stored form: `sealed:v1:<check>:<base64url(nonce || ciphertext)>`, where
//! `<check>` is the master key's check value, derived separately from the
//! same master key. A key sealed with another master key is recognised by it
//! before any decryption is tried. A plaintext key (PKCS#8 PEM, as stored
//! without a master key) starts with `-----BEGIN`.

use std::{io::Write as _, path::Path};

use anyhow::Context as _;
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, ExposeSecretMut as _, SecretBox, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The prefix of every sealed value this version writes.
const SEALED_V1: &str = "sealed:v1:";
/// How plaintext PEM starts.
const PLAINTEXT: &str = "-----BEGIN";
const NONCE_BYTES: usize = 24;
/// What HKDF derives each key for: the sealing key and the check value never
/// coincide, and the check value reveals nothing about the sealing key.
const SEAL_INFO: &[u8] = b"authpair signing-key seal v1";
const CHECK_INFO: &[u8] = b"authpair master-key check v1";

/// 32 random bytes from a file. Debug shows the check value only.
pub struct MasterKey {
    seal_key: SecretBox<[u8; 32]>,
    check: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("check", &self.check).finish_non_exhaustive()
    }
}

/// What a stored signing key turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum StoredKey<'a> {
    Plaintext,
    /// Sealed with the master key whose check value this is.
    Sealed {
        check: &'a str,
    },
}

/// Why a stored signing key did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("was sealed with a different master key (key check {sealed_with}; this master key's is {ours})")]
    OtherMasterKey { sealed_with: String, ours: String },
    #[error("is sealed (key check {sealed_with}) but no master key was given")]
    NoMasterKey { sealed_with: String },
    #[error("does not open with the master key whose check it carries: it was altered or moved from another row")]
    Tampered,
    #[error("is stored in a form this version does not know")]
    Unknown,
}

/// Tells plaintext PEM from a sealed value, without opening it.
pub fn classify(stored: &str) -> Result<StoredKey<'_>, OpenError> {
    if stored.starts_with(PLAINTEXT) {
        return Ok(StoredKey::Plaintext);
    }
    let rest = stored.strip_prefix(SEALED_V1).ok_or(OpenError::Unknown)?;
    let (check, _) = rest.split_once(':').ok_or(OpenError::Unknown)?;
    Ok(StoredKey::Sealed { check })
}

impl MasterKey {
    /// From the key's 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(None, bytes);
        let mut seal_key = SecretBox::new(Box::new([0u8; 32]));
        let mut check = Zeroizing::new([0u8; 8]);
        // 32 and 8 bytes are far below HKDF-SHA256's 8160-byte limit.
        let derived = hkdf.expand(SEAL_INFO, seal_key.expose_secret_mut()).and(hkdf.expand(CHECK_INFO, &mut *check));
        debug_assert!(derived.is_ok());
        Self { seal_key, check: check.iter().map(|b| format!("{b:02x}")).collect() }
    }

    /// Reads a master key file: 32 bytes in base64 (standard or URL-safe,
    /// padded or not). Spaces, tabs and line breaks (LF or CRLF) around the
    /// key are set aside, since base64 never holds them; a key that whitespace
    /// inside it keeps from decoding is refused for that, by name. On Unix the file must be readable by its
    /// owner only, or be a Kubernetes secret mounted for a non-root pod
    /// (root's file, read-only for the process's own group, `fsGroup`).
    pub fn read_file(path: &Path) -> anyhow::Result<Self> {
        let shown = path.display();
        let metadata = std::fs::metadata(path).with_context(|| format!("reading master key file {shown}"))?;
        anyhow::ensure!(!metadata.is_dir(), "master key file {shown} is a directory, not a file");
        anyhow::ensure!(metadata.is_file(), "master key file {shown} is not a regular file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let mode = metadata.mode();
            let (euid, egid) = (rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw());
            let file = KeyFile { mode, uid: metadata.uid(), gid: metadata.gid() };
            anyhow::ensure!(
                file.private_to(euid, egid),
                "master key file {shown} is accessible to group or others (mode {:o}); chmod 600 it",
                mode & 0o777
            );
        }
        let text =
            Zeroizing::new(std::fs::read_to_string(path).with_context(|| format!("reading master key file {shown}"))?);
        let decode = |text: &str| {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok().map(Zeroizing::new))
        };
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let Some(decoded) = decode(text) else {
            let joined = Zeroizing::new(text.replace(|c: char| c.is_ascii_whitespace(), ""));
            anyhow::ensure!(
                decode(&joined).is_none(),
                "master key file {shown} has a space or line break inside the key: it must be one line of base64 \
                 ({HOW_TO_CREATE})"
            );
            anyhow::bail!("master key file {shown} is not base64 ({HOW_TO_CREATE})");
        };
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(decoded.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!("master key file {shown} holds {} bytes, not 32 ({HOW_TO_CREATE})", decoded.len())
        })?);
        Ok(Self::from_bytes(&bytes))
    }

    /// The check value sealed values carry: which master key sealed them.
    pub fn check_value(&self) -> &str {
        &self.check
    }

    /// Seals a private key's PEM, bound to its key id.
    pub fn seal(&self, kid: &str, pem: &SecretString) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::getrandom(&mut nonce)?;
        let payload = Payload { msg: pem.expose_secret().as_bytes(), aad: kid.as_bytes() };
        let sealed =
            self.cipher().encrypt(&XNonce::from(nonce), payload).map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("{SEALED_V1}{}:{}", self.check, URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Opens what [`Self::seal`] wrote for `kid`.
    pub fn open(&self, kid: &str, stored: &str) -> Result<SecretString, OpenError> {
        match classify(stored)? {
            StoredKey::Plaintext => return Err(OpenError::Unknown),
            StoredKey::Sealed { check } if check != self.check => {
                return Err(OpenError::OtherMasterKey { sealed_with: check.into(), ours: self.check.clone() });
            }
            StoredKey::Sealed { .. } => {}
        }
        let blob = stored.rsplit_once(':').map(|(_, b)| b).ok_or(OpenError::Unknown)?;
        let blob = URL_SAFE_NO_PAD.decode(blob).map_err(|_| OpenError::Tampered)?;
        if blob.len() < NONCE_BYTES {
            return Err(OpenError::Tampered);
        }
        let (nonce, sealed) = blob.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| OpenError::Tampered)?;
        let payload = Payload { msg: sealed, aad: kid.as_bytes() };
        let pem =
            Zeroizing::new(self.cipher().decrypt(&XNonce::from(nonce), payload).map_err(|_| OpenError::Tampered)?);
        let pem = std::str::from_utf8(&pem).map_err(|_| OpenError::Tampered)?;
        Ok(SecretString::from(pem))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.seal_key.expose_secret().into())
    }
}

/// How an operator makes a master key, for error messages.
pub const HOW_TO_CREATE: &str = "create one with: head -c 32 /dev/urandom | base64 > master.key; chmod 600 master.key";

/// Creates a master key file at `path` (its directory too), owner-only from
/// the first byte, unless one exists. Returns whether it created one.
///
/// The key is written to a file of its own and then linked into place, so an
/// instance starting alongside never reads a half-written key, and of two
/// creating at once one wins and the other reads its key.
pub fn create_master_key_file(path: &Path) -> anyhow::Result<bool> {
    let shown = path.display();
    if path.exists() {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating the directory of master key file {shown}"))?;

    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(&mut *bytes)?;
    let text = Zeroizing::new(format!("{}\n", STANDARD.encode(*bytes)));
    let mut nonce = [0u8; 8];
    getrandom::getrandom(&mut nonce)?;
    let staging = dir.join(format!(".master.key.{}", URL_SAFE_NO_PAD.encode(nonce)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&staging).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&staging, path));
    let _ = std::fs::remove_file(&staging);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("creating master key file {shown}")),
    }
}

/// A key file's mode and owners, as the private-file rule reads them.
#[cfg(unix)]
#[derive(Debug, Clone, Copy)]
struct KeyFile {
    mode: u32,
    uid: u32,
    gid: u32,
}

#[cfg(unix)]
impl KeyFile {
    /// Whether no one but the process `euid`/`egid` can read the file:
    /// owner-only (no group or other bits), or the layout of a Kubernetes
    /// secret mounted for a non-root pod (owned by root, read-only for the
    /// pod's own group, `fsGroup`, and nothing for others), which the
    /// process, not root, reaches only through that group.
    fn private_to(self, euid: u32, egid: u32) -> bool {
        let owner_only = self.mode & 0o077 == 0;
        let root_owned_group_read = self.mode & 0o077 == 0o040 && self.uid == 0 && euid != 0 && self.gid == egid;
        owner_only || root_owned_group_read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; 32])
    }

    fn pem() -> SecretString {
        SecretString::from("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n")
    }

    #[test]
    fn a_sealed_key_opens_with_its_master_key_and_kid_and_hides_the_pem() -> anyhow::Result<()> {
        let sealed = key(1).seal("kid-a", &pem())?;
        assert!(sealed.starts_with(&format!("sealed:v1:{}:", key(1).check_value())), "{sealed}");
        assert!(!sealed.contains("BEGIN") && !sealed.contains("MC4CAQAw"));
        assert_eq!(
            key(1).open("kid-a", &sealed).map(|p| p.expose_secret().to_owned()),
            Ok(pem().expose_secret().into())
        );
        assert_ne!(key(1).seal("kid-a", &pem())?, sealed, "a fresh nonce per seal");
        Ok(())
    }

    #[test]
    fn a_sealed_key_moved_to_another_kid_or_altered_does_not_open() -> anyhow::Result<()> {
        let sealed = key(1).seal("kid-a", &pem())?;
        assert_eq!(key(1).open("kid-b", &sealed).err(), Some(OpenError::Tampered));
        // One character of the ciphertext changed, well before the end.
        let mut altered: Vec<char> = sealed.chars().collect();
        let at = altered.len() - 10;
        altered[at] = if altered[at] == 'A' { 'B' } else { 'A' };
        let altered: String = altered.into_iter().collect();
        assert_eq!(key(1).open("kid-a", &altered).err(), Some(OpenError::Tampered));
        Ok(())
    }

    #[test]
    fn another_master_key_is_recognised_by_its_check_value() -> anyhow::Result<()> {
        let sealed = key(1).seal("kid-a", &pem())?;
        let error = key(2).open("kid-a", &sealed).err().map(|e| e.to_string());
        let expected = format!(
            "was sealed with a different master key (key check {}; this master key's is {})",
            key(1).check_value(),
            key(2).check_value()
        );
        assert_eq!(error, Some(expected));
        assert_eq!(classify(pem().expose_secret()), Ok(StoredKey::Plaintext));
        assert_eq!(classify("something else"), Err(OpenError::Unknown));
        Ok(())
    }

    #[test]
    fn a_master_key_file_must_hold_32_bytes_of_base64_readable_by_its_owner_only() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("master.key");
        assert!(create_master_key_file(&path)?);
        assert!(!create_master_key_file(&path)?, "an existing key is kept");
        let created = MasterKey::read_file(&path)?;
        assert_eq!(MasterKey::read_file(&path)?.check_value(), created.check_value());

        let write = |text: &str| -> anyhow::Result<String> {
            let path = dir.path().join("other.key");
            std::fs::write(&path, text)?;
            set_mode(&path, 0o600)?;
            Ok(MasterKey::read_file(&path).err().map(|e| e.to_string()).unwrap_or_default())
        };
        let shown = dir.path().join("other.key").display().to_string();
        assert_eq!(write(&format!("{}\n", URL_SAFE_NO_PAD.encode([7u8; 32])))?, "");
        assert_eq!(
            write(&STANDARD.encode([7u8; 16]))?,
            format!("master key file {shown} holds 16 bytes, not 32 ({HOW_TO_CREATE})")
        );
        assert_eq!(write("not base64!")?, format!("master key file {shown} is not base64 ({HOW_TO_CREATE})"));
        #[cfg(unix)]
        {
            set_mode(&path, 0o640)?;
            let error = MasterKey::read_file(&path).err().map(|e| e.to_string());
            let expected =
                format!("master key file {} is accessible to group or others (mode 640); chmod 600 it", path.display());
            assert_eq!(error, Some(expected));
        }
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_or_a_foreign_group_can_read_is_refused_but_a_pods_root_owned_group_secret_is_not() {
        const SERVICE: (u32, u32) = (65532, 65532);
        let file = |mode, uid, gid| KeyFile { mode, uid, gid };
        // Owner-only, whoever the owner.
        assert!(file(0o600, 65532, 65532).private_to(SERVICE.0, SERVICE.1));
        assert!(file(0o400, 65532, 65532).private_to(SERVICE.0, SERVICE.1));
        // A Kubernetes secret with fsGroup: root's file, read-only for the
        // pod's group, which is the service's own.
        assert!(file(0o440, 0, 65532).private_to(SERVICE.0, SERVICE.1));
        // Refused: another group, a group that may write, others, a file
        // not root's, a process running as root (the rule is for non-root pods).
        assert!(!file(0o440, 0, 100).private_to(SERVICE.0, SERVICE.1));
        assert!(!file(0o460, 0, 65532).private_to(SERVICE.0, SERVICE.1));
        assert!(!file(0o444, 0, 65532).private_to(SERVICE.0, SERVICE.1));
        assert!(!file(0o404, 65532, 65532).private_to(SERVICE.0, SERVICE.1));
        assert!(!file(0o440, 1000, 65532).private_to(SERVICE.0, SERVICE.1));
        assert!(!file(0o640, 65532, 65532).private_to(SERVICE.0, SERVICE.1));
        assert!(!file(0o440, 0, 0).private_to(0, 0));
    }

    /// Writes `text` to a fresh owner-only key file and reads it back:
    /// the refusal's message, or "" when it reads.
    fn read_back(dir: &Path, text: &[u8]) -> anyhow::Result<String> {
        let path = dir.join("written.key");
        std::fs::write(&path, text)?;
        set_mode(&path, 0o600)?;
        Ok(MasterKey::read_file(&path).err().map(|e| e.to_string()).unwrap_or_default())
    }

    #[test]
    fn a_master_key_with_a_trailing_lf_or_crlf_or_spaces_around_it_reads_as_the_key() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let key = STANDARD.encode([7u8; 32]);
        let expected = MasterKey::from_bytes(&[7u8; 32]).check_value().to_owned();
        for text in [
            format!("{key}\n"),
            format!("{key}\r\n"),
            format!("  {key}"),
            format!("  {key}  \r\n"),
            format!("\t{key}\n\n"),
            format!("\r\n{key}"),
        ] {
            assert_eq!(read_back(dir.path(), text.as_bytes())?, "", "{text:?}");
            let read = MasterKey::read_file(&dir.path().join("written.key"))?;
            assert_eq!(read.check_value(), expected, "{text:?}");
        }
        Ok(())
    }

    #[test]
    fn whitespace_inside_a_master_key_is_refused_as_whitespace_not_as_bad_base64() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let shown = dir.path().join("written.key").display().to_string();
        let key = STANDARD.encode([7u8; 32]);
        let expected = format!(
            "master key file {shown} has a space or line break inside the key: it must be one line of base64 \
             ({HOW_TO_CREATE})"
        );
        for text in [format!("{} {}", &key[..20], &key[20..]), format!("{}\r\n{}\r\n", &key[..20], &key[20..])] {
            assert_eq!(read_back(dir.path(), text.as_bytes())?, expected, "{text:?}");
        }
        Ok(())
    }

    #[test]
    fn a_directory_given_as_the_master_key_file_is_named_a_directory() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("master.key");
        std::fs::create_dir(&path)?;
        let error = MasterKey::read_file(&path).err().map(|e| e.to_string());
        assert_eq!(error, Some(format!("master key file {} is a directory, not a file", path.display())));
        Ok(())
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }

    #[cfg(not(unix))]
    fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
        Ok(())
    }
}
