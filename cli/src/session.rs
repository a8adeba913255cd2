//! The stored sessions: where the file lives, its format, and writing it
//! with mode 0600 from the first byte.
//!
//! One file, `session.json`, holds at most one session per auth service
//! URL (in normal form, [`AuthUrl`]) and audience: a session's tokens go to
//! the URL that issued them and to no other. It is
//! replaced atomically (a new file created 0600, then renamed over the old
//! one), and a lock on `session.lock` keeps two concurrent commands from
//! both spending the same refresh token (which the auth service would take
//! for theft and answer by revoking the session).
//!
//! The file and its directory must be the owner's alone: a file others can
//! write, or in a directory others can write, is refused (its URL could have
//! been changed to send the tokens elsewhere); a file others can read is
//! used with a warning, as its tokens may have been copied.

use std::{
    fmt,
    fs::{self, File, OpenOptions},
    io::{self, Write as _},
    path::{Path, PathBuf},
};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::{auth_url::AuthUrl, error::CliError, file_mode};

const SESSION_FILE: &str = "session.json";
const LOCK_FILE: &str = "session.lock";

/// One logged-in session. Debug shows neither token.
#[derive(Serialize, Deserialize)]
pub struct Session {
    /// The auth service it was logged in at.
    pub url: String,
    pub username: String,
    /// The `aud` of its access tokens; a refresh keeps it.
    pub audience: String,
    #[serde(with = "secret")]
    pub access_token: SecretString,
    /// Good for exactly one Refresh; replaced by the one that returns.
    #[serde(with = "secret")]
    pub refresh_token: SecretString,
    /// Unix seconds when the access token expires.
    pub expires_at: i64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("audience", &self.audience)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Everything in the session file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sessions {
    pub sessions: Vec<Session>,
}

impl Sessions {
    /// The session for `audience` made at `url`.
    pub fn get(&self, url: &AuthUrl, audience: &str) -> Option<&Session> {
        self.sessions.iter().find(|s| s.is_for(url, audience))
    }

    pub fn get_mut(&mut self, url: &AuthUrl, audience: &str) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.is_for(url, audience))
    }

    /// Adds `session`, replacing any for the same URL and audience.
    pub fn put(&mut self, session: Session) {
        if let Ok(url) = AuthUrl::parse(&session.url) {
            self.remove(&url, &session.audience);
        }
        self.sessions.push(session);
    }

    pub fn remove(&mut self, url: &AuthUrl, audience: &str) -> Option<Session> {
        let at = self.sessions.iter().position(|s| s.is_for(url, audience))?;
        Some(self.sessions.remove(at))
    }

    /// The distinct audiences with a session, in file order.
    pub fn audiences(&self) -> Vec<&str> {
        let mut audiences: Vec<&str> = Vec::new();
        for session in &self.sessions {
            if !audiences.contains(&session.audience.as_str()) {
                audiences.push(&session.audience);
            }
        }
        audiences
    }

    /// The distinct URLs (as stored) with a session for `audience`, or
    /// with any session when `audience` is None.
    pub fn urls(&self, audience: Option<&str>) -> Vec<&str> {
        let mut urls: Vec<&str> = Vec::new();
        for session in self.sessions.iter().filter(|s| audience.is_none_or(|a| s.audience == a)) {
            if !urls.contains(&session.url.as_str()) {
                urls.push(&session.url);
            }
        }
        urls
    }
}

/// The session file's directory: `$AUTHPAIR_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/authpair`, else `$HOME/.config/authpair`.
pub fn config_dir() -> Result<PathBuf, CliError> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("AUTHPAIR_CONFIG_DIR")
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("authpair")))
        .or_else(|| var("HOME").map(|d| d.join(".config").join("authpair")))
        .ok_or_else(|| CliError::other("no config directory: set AUTHPAIR_CONFIG_DIR or HOME"))
}

/// The session file in a directory, and its lock.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
}

/// Held while a command reads, renews and writes the sessions; released on drop.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Store {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(SESSION_FILE)
    }

    /// Waits for and takes the exclusive lock; creates the directory (0700).
    pub fn lock(&self) -> Result<Lock, CliError> {
        create_private_dir(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        file_mode::check_dir(&self.dir)?;
        let path = self.dir.join(LOCK_FILE);
        let file = private_options().read(true).write(true).create(true).truncate(false).open(&path);
        let file = file.map_err(|e| io_error(&path, e))?;
        file.lock().map_err(|e| io_error(&path, e))?;
        Ok(Lock { _file: file })
    }

    /// The stored sessions; none if there is no file.
    pub fn load(&self, _lock: &Lock) -> Result<Sessions, CliError> {
        let path = self.path();
        if let Some(warning) = file_mode::check_file(&path)? {
            eprintln!("{warning}");
        }
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| CliError::other(format!("{}: not a session file: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Sessions::default()),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    /// Writes `sessions` (deleting the file when there are none).
    pub fn save(&self, _lock: &Lock, sessions: &Sessions) -> Result<(), CliError> {
        let path = self.path();
        if sessions.sessions.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(&path, e)),
                _ => Ok(()),
            };
        }
        let json = serde_json::to_vec_pretty(sessions).map_err(|e| CliError::other(e.to_string()))?;
        let temp = self.dir.join(format!(".{SESSION_FILE}.{}.tmp", std::process::id()));
        let written = (|| {
            // create_new: never reuses a file someone else made, whatever its mode.
            let mut file = private_options().write(true).create_new(true).open(&temp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            fs::rename(&temp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_error(&path, e));
        }
        Ok(())
    }
}

fn io_error(path: &Path, e: io::Error) -> CliError {
    CliError::other(format!("{}: {e}", path.display()))
}

/// Options that create a file readable and writable by its owner alone.
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Serde for a `SecretString` field: the file is the one place it is written.
mod secret {
    use secrecy::{ExposeSecret as _, SecretString};
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose_secret())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
        Ok(SecretString::from(String::deserialize(deserializer)?))
    }
}

impl Session {
    /// Whether this is the session for `audience` at `url` (its stored URL,
    /// normalised; a URL that no longer parses matches none).
    pub fn is_for(&self, url: &AuthUrl, audience: &str) -> bool {
        self.audience == audience && AuthUrl::parse(&self.url).is_ok_and(|own| own == *url)
    }

    /// Whether the access token has less than `margin_secs` left at `now`.
    pub fn expires_within(&self, now: i64, margin_secs: i64) -> bool {
        self.expires_at - now < margin_secs
    }

    pub fn access_token(&self) -> &str {
        self.access_token.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> AuthUrl {
        AuthUrl::parse(raw).unwrap_or_else(|e| panic!("{e}"))
    }

    fn session(audience: &str) -> Session {
        session_at("http://127.0.0.1:1", audience)
    }

    fn session_at(url: &str, audience: &str) -> Session {
        Session {
            url: url.into(),
            username: "root".into(),
            audience: audience.into(),
            access_token: SecretString::from("access-secret".to_owned()),
            refresh_token: SecretString::from("refresh-secret".to_owned()),
            expires_at: 100,
        }
    }

    #[test]
    fn debug_of_a_session_shows_neither_token() {
        let shown = format!("{:?}", Sessions { sessions: vec![session("authpair-admin")] });
        assert!(shown.contains("authpair-admin"), "{shown}");
        assert!(!shown.contains("access-secret") && !shown.contains("refresh-secret"), "{shown}");
    }

    #[test]
    fn the_session_file_is_created_0600_in_a_0700_dir_and_round_trips() -> Result<(), Box<dyn std::error::Error>> {
        let temp = tempfile::tempdir()?;
        let store = Store::new(temp.path().join("nested").join("authpair"));
        let lock = store.lock()?;
        let mut sessions = Sessions::default();
        sessions.put(session("authpair-admin"));
        sessions.put(session("authpair"));
        store.save(&lock, &sessions)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(store.path())?.permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(&store.dir)?.permissions().mode() & 0o777, 0o700);
        }
        let loaded = store.load(&lock)?;
        assert_eq!(loaded.audiences(), ["authpair-admin", "authpair"]);
        let admin = loaded.get(&url("http://127.0.0.1:1"), "authpair-admin").ok_or("missing")?;
        assert_eq!(admin.refresh_token.expose_secret(), "refresh-secret");
        Ok(())
    }

    #[test]
    fn saving_no_sessions_deletes_the_file() -> Result<(), Box<dyn std::error::Error>> {
        let temp = tempfile::tempdir()?;
        let store = Store::new(temp.path().to_owned());
        let lock = store.lock()?;
        let mut sessions = Sessions::default();
        sessions.put(session("authpair-admin"));
        store.save(&lock, &sessions)?;
        sessions.remove(&url("http://127.0.0.1:1/"), "authpair-admin");
        store.save(&lock, &sessions)?;
        assert!(!store.path().exists());
        assert!(store.load(&lock)?.sessions.is_empty());
        Ok(())
    }

    #[test]
    fn putting_a_session_replaces_the_one_for_its_url_and_audience() {
        let mut sessions = Sessions::default();
        sessions.put(session("a"));
        let mut newer = session_at("HTTP://127.0.0.1:1/", "a");
        newer.username = "other".into();
        sessions.put(newer);
        assert_eq!(sessions.sessions.len(), 1);
        assert_eq!(sessions.get(&url("http://127.0.0.1:1"), "a").map(|s| s.username.as_str()), Some("other"));
    }

    #[test]
    fn a_session_is_found_only_under_the_url_it_was_made_at() {
        let mut sessions = Sessions::default();
        sessions.put(session_at("http://127.0.0.1:50051/", "a"));
        sessions.put(session_at("http://auth.example.com:50051", "a"));
        assert_eq!(sessions.sessions.len(), 2);
        assert_eq!(sessions.urls(Some("a")), ["http://127.0.0.1:50051/", "http://auth.example.com:50051"]);
        for same in ["http://127.0.0.1:50051", "http://127.0.0.1:50051/"] {
            assert!(sessions.get(&url(same), "a").is_some(), "{same}");
        }
        for other in ["http://127.0.0.1:50052", "https://127.0.0.1:50051", "http://localhost:50051"] {
            assert!(sessions.get(&url(other), "a").is_none(), "{other}");
        }
        assert!(sessions.get(&url("http://127.0.0.1:50051"), "b").is_none());
        assert!(sessions.remove(&url("http://AUTH.example.com:50051/"), "a").is_some());
        assert_eq!(sessions.urls(None), ["http://127.0.0.1:50051/"]);
    }
}
