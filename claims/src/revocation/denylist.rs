//! [`Revocation`], one entry of the auth service's revocation log, and
//! [`Denylist`], the entries a service holds and checks each verified token
//! against, with how fresh its feed is.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{
    clock::{now as now_secs, now_millis as now_ms},
    error::AuthError,
    token::claims::Claims,
};

/// One revocation, as stored in the auth service's log and sent on the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One token, by issuer and `jti`.
    Token {
        /// The `iss` of the revoked token.
        issuer: String,
        /// Its `jti`.
        token_id: String,
        /// Its `exp` (Unix seconds): the entry is kept until then.
        expires_at: i64,
    },
    /// Every token of a subject issued before the revocation was logged.
    Subject {
        /// The `iss` of the revoked tokens.
        issuer: String,
        /// Their `sub`.
        subject: String,
        /// Tokens whose `gen` is below this are revoked.
        min_generation: u64,
        /// When every token it revokes has expired (Unix seconds): the entry
        /// is kept until then.
        expires_at: i64,
    },
}

/// Revoked token ids of one issuer → their `exp`. The two forms of id
/// authpair issues, a UUID and 16 bytes as 22 base64url characters, are kept
/// as 128-bit integers, each form in a map of its own (the same bits in the
/// other form are another id): a million entries fit in about 40 MB instead
/// of about 100. Any other id is kept as it is.
#[derive(Debug, Default)]
struct TokenIds {
    uuids: HashMap<u128, i64>,
    compact: HashMap<u128, i64>,
    other: HashMap<String, i64>,
}

/// How one `jti` is held.
enum TokenIdKey<'a> {
    Uuid(u128),
    Compact(u128),
    Other(&'a str),
}

impl<'a> TokenIdKey<'a> {
    fn of(jti: &'a str) -> Self {
        if let Ok(id) = uuid::Uuid::try_parse(jti) {
            return Self::Uuid(id.as_u128());
        }
        match compact_id(jti) {
            Some(id) => Self::Compact(id),
            None => Self::Other(jti),
        }
    }
}

/// The 16 bytes a 22-character base64url `jti` spells, when it is exactly
/// their one encoding (no padding, no stray low bits in the last character),
/// so that two different strings never share an entry.
fn compact_id(jti: &str) -> Option<u128> {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    if jti.len() != 22 {
        return None;
    }
    // Room for the decoder's estimate of 22 characters (18 bytes).
    let mut bytes = [0u8; 18];
    let len = URL_SAFE_NO_PAD.decode_slice(jti, &mut bytes).ok()?;
    let id: [u8; 16] = bytes.get(..len)?.try_into().ok()?;
    Some(u128::from_be_bytes(id))
}

impl TokenIds {
    fn contains(&self, jti: &str) -> bool {
        match TokenIdKey::of(jti) {
            TokenIdKey::Uuid(id) => self.uuids.contains_key(&id),
            TokenIdKey::Compact(id) => self.compact.contains_key(&id),
            TokenIdKey::Other(jti) => self.other.contains_key(jti),
        }
    }

    fn insert(&mut self, jti: String, exp: i64) {
        match TokenIdKey::of(&jti) {
            TokenIdKey::Uuid(id) => self.uuids.insert(id, exp),
            TokenIdKey::Compact(id) => self.compact.insert(id, exp),
            TokenIdKey::Other(_) => self.other.insert(jti, exp),
        };
    }

    fn retain_live(&mut self, now: i64) {
        self.uuids.retain(|_, exp| *exp >= now);
        self.compact.retain(|_, exp| *exp >= now);
        self.other.retain(|_, exp| *exp >= now);
    }

    fn len(&self) -> usize {
        self.uuids.len() + self.compact.len() + self.other.len()
    }
}

#[derive(Debug, Default)]
struct Entries {
    /// issuer → revoked token ids
    tokens: HashMap<String, TokenIds>,
    /// issuer → sub → (min_generation, expires_at)
    subjects: HashMap<String, HashMap<String, (u64, i64)>>,
}

/// Revoked tokens and subjects, checked on every call; see the module docs.
/// Shared between the feed that fills it and the layer that reads it.
#[derive(Debug)]
pub struct Denylist {
    entries: RwLock<Entries>,
    /// None: fed in-process (the auth service itself), never stale.
    max_staleness: Option<Duration>,
    /// Unix milliseconds of the last message from the feed; 0 = never.
    last_heard_ms: AtomicU64,
    /// The last log sequence applied.
    sequence: AtomicU64,
}

impl Denylist {
    /// A denylist whose owner writes every revocation into it directly.
    pub fn local() -> Self {
        Self::with_staleness(None)
    }

    /// A denylist fed from a remote feed, failing closed once the feed has
    /// been silent for longer than `max_staleness`.
    pub fn fed(max_staleness: Duration) -> Self {
        Self::with_staleness(Some(max_staleness))
    }

    fn with_staleness(max_staleness: Option<Duration>) -> Self {
        Self {
            entries: RwLock::default(),
            max_staleness,
            last_heard_ms: AtomicU64::new(0),
            sequence: AtomicU64::new(0),
        }
    }

    /// Refuses a revoked token, or any token while the list is stale.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        if self.is_stale() {
            return Err(AuthError::RevocationsStale);
        }
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let iss = claims.issuer();
        if entries.tokens.get(iss).is_some_and(|ids| ids.contains(claims.token_id())) {
            return Err(AuthError::Revoked);
        }
        if let Some(subjects) = entries.subjects.get(iss) {
            // The subject, and every service acting for it (a delegated
            // token ends with its actor's account too).
            let revoked = |subject: &str| subjects.get(subject).is_some_and(|(min, _)| claims.generation() < *min);
            if revoked(claims.subject()) || claims.actors().iter().any(|actor| revoked(actor)) {
                return Err(AuthError::Revoked);
            }
        }
        Ok(())
    }

    /// Adds `revocation`. A subject already revoked keeps the higher
    /// generation and the later expiry.
    pub fn apply(&self, revocation: Revocation) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        match revocation {
            Revocation::Token { issuer, token_id, expires_at } => {
                entries.tokens.entry(issuer).or_default().insert(token_id, expires_at);
            }
            Revocation::Subject { issuer, subject, min_generation, expires_at } => {
                let slot =
                    entries.subjects.entry(issuer).or_default().entry(subject).or_insert((min_generation, expires_at));
                // A later revocation of the same subject can only move the
                // line forward.
                *slot = (slot.0.max(min_generation), slot.1.max(expires_at));
            }
        }
    }

    /// Applies `revocation` as log entry `sequence`.
    pub fn apply_logged(&self, sequence: u64, revocation: Revocation) {
        self.apply(revocation);
        self.sequence.fetch_max(sequence, Ordering::Relaxed);
    }

    /// Forgets entries whose tokens can no longer be live.
    pub fn prune(&self) {
        let now = now_secs();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        for tokens in entries.tokens.values_mut() {
            tokens.retain_live(now);
        }
        for subjects in entries.subjects.values_mut() {
            subjects.retain(|_, (_, exp)| *exp >= now);
        }
    }

    /// Drops everything, e.g. when the feed's log was reset.
    pub fn clear(&self) {
        *self.entries.write().unwrap_or_else(|p| p.into_inner()) = Entries::default();
        self.sequence.store(0, Ordering::Relaxed);
    }

    /// Records that the feed was heard from just now.
    pub fn heard(&self) {
        self.last_heard_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Time since the feed was last heard from; None if never.
    pub fn age(&self) -> Option<Duration> {
        match self.last_heard_ms.load(Ordering::Relaxed) {
            0 => None,
            last => Some(Duration::from_millis(now_ms().saturating_sub(last))),
        }
    }

    /// Whether the feed has been silent past `max_staleness` (or never
    /// heard from); always false for a [`Denylist::local`] list.
    pub fn is_stale(&self) -> bool {
        match self.max_staleness {
            None => false,
            Some(max) => self.age().is_none_or(|age| age > max),
        }
    }

    /// The last revocation-log sequence applied; 0 before any, or after
    /// [`Denylist::clear`].
    pub fn sequence(&self) -> u64 {
        self.sequence.load(Ordering::Relaxed)
    }

    /// (revoked tokens, revoked subjects) currently held.
    pub fn len(&self) -> (usize, usize) {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        (entries.tokens.values().map(TokenIds::len).sum(), entries.subjects.values().map(HashMap::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::claims::{Audience, WireClaims};

    fn claims(jti: &str, sub: &str, generation: u64) -> Claims {
        let iat = now_secs() as u64;
        WireClaims {
            iss: "authpair".into(),
            aud: Audience::One("authpair".into()),
            sub: sub.into(),
            exp: iat + 900,
            nbf: None,
            iat,
            jti: jti.into(),
            r#gen: generation,
            client_id: "c".into(),
            preferred_username: None,
            roles: vec![],
            scope: String::new(),
            plan: "free".into(),
            cnf: None,
            act: None,
        }
        .into_claims("authpair")
    }

    #[test]
    fn a_delegated_token_is_revoked_with_its_subject_or_any_service_acting_for_it() {
        let list = Denylist::local();
        let now = now_secs();
        let delegated = |generation| Claims {
            actors: vec!["svc:orders".into(), "svc:gate".into()],
            ..claims("t9", "carol", generation)
        };
        assert_eq!(list.check(&delegated(3)), Ok(()));
        // The earlier actor's account deleted after the token was issued.
        list.apply(Revocation::Subject {
            issuer: "authpair".into(),
            subject: "svc:gate".into(),
            min_generation: 5,
            expires_at: now + 60,
        });
        assert_eq!(list.check(&delegated(3)), Err(AuthError::Revoked));
        assert_eq!(list.check(&delegated(5)), Ok(()));
        // A direct token of the same subject is not the actor's.
        assert_eq!(list.check(&claims("t8", "carol", 3)), Ok(()));
    }

    #[test]
    fn rv_03_a_token_is_revoked_by_issuer_and_jti_and_a_subject_by_generation() {
        let list = Denylist::local();
        let now = now_secs();
        list.apply(Revocation::Token { issuer: "authpair".into(), token_id: "t1".into(), expires_at: now + 60 });
        list.apply(Revocation::Subject {
            issuer: "authpair".into(),
            subject: "bob".into(),
            min_generation: 7,
            expires_at: now + 60,
        });
        assert_eq!(list.check(&claims("t1", "alice", 0)), Err(AuthError::Revoked));
        assert_eq!(list.check(&claims("t2", "alice", 0)), Ok(()));
        assert_eq!(list.check(&claims("t3", "bob", 6)), Err(AuthError::Revoked), "issued before entry 7");
        assert_eq!(list.check(&claims("t4", "bob", 7)), Ok(()), "issued after entry 7 was logged");
        let uuid = "6f1c1a3e-8d2b-4c1e-9f7a-0b1c2d3e4f50";
        list.apply(Revocation::Token { issuer: "authpair".into(), token_id: uuid.into(), expires_at: now + 60 });
        assert_eq!(list.check(&claims(uuid, "alice", 0)), Err(AuthError::Revoked));
        assert_eq!(list.check(&claims(&uuid.to_uppercase(), "alice", 0)), Err(AuthError::Revoked), "same id");
        assert_eq!(list.len(), (2, 1));
    }

    #[test]
    fn a_compact_jti_is_revoked_as_exactly_that_string_and_kept_as_an_integer() {
        let list = Denylist::local();
        let now = now_secs();
        let id = crate::token::signer::new_token_id().unwrap_or_default();
        assert_eq!(id.len(), 22);
        list.apply(Revocation::Token { issuer: "authpair".into(), token_id: id.clone(), expires_at: now + 60 });
        assert_eq!(list.check(&claims(&id, "alice", 0)), Err(AuthError::Revoked));
        {
            let entries = list.entries.read().unwrap_or_else(|p| p.into_inner());
            let ids = entries.tokens.get("authpair");
            assert_eq!(ids.map(|i| (i.uuids.len(), i.compact.len(), i.other.len())), Some((0, 1, 0)));
        }
        // The same bits written as a UUID are another id.
        let bits = compact_id(&id).unwrap_or_default();
        let as_uuid = uuid::Uuid::from_u128(bits).to_string();
        assert_eq!(list.check(&claims(&as_uuid, "alice", 0)), Ok(()));
        // 22 characters that are not one canonical encoding of 16 bytes
        // are kept as strings, and match only themselves.
        let stray_bits = "AAAAAAAAAAAAAAAAAAAAAB";
        assert_eq!(compact_id(stray_bits), None);
        assert_eq!(compact_id("AAAAAAAAAAAAAAAAAAAAAA"), Some(0));
        assert_eq!(compact_id("AAAAAAAAAAAAAAAAAAAA+A"), None);
        list.apply(Revocation::Token { issuer: "authpair".into(), token_id: stray_bits.into(), expires_at: now + 60 });
        assert_eq!(list.check(&claims(stray_bits, "alice", 0)), Err(AuthError::Revoked));
        assert_eq!(list.check(&claims("AAAAAAAAAAAAAAAAAAAAAA", "alice", 0)), Ok(()));
        assert_eq!(list.len(), (2, 0));
    }

    #[test]
    fn expired_entries_are_pruned() {
        let list = Denylist::local();
        let now = now_secs();
        list.apply(Revocation::Token { issuer: "i".into(), token_id: "old".into(), expires_at: now - 1 });
        list.apply(Revocation::Token { issuer: "i".into(), token_id: "live".into(), expires_at: now + 60 });
        list.prune();
        assert_eq!(list.len(), (1, 0));
    }

    #[test]
    fn a_fed_list_fails_closed_until_heard_from_and_when_silent_too_long() {
        let list = Denylist::fed(Duration::from_secs(60));
        assert_eq!(list.check(&claims("t", "s", 0)), Err(AuthError::RevocationsStale));
        list.heard();
        assert_eq!(list.check(&claims("t", "s", 0)), Ok(()));
        let silent = Denylist::fed(Duration::ZERO);
        silent.last_heard_ms.store(now_ms() - 5, Ordering::Relaxed);
        assert!(silent.is_stale());
    }
}
