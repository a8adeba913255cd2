//! What the fuzz targets share: one real signing key and a verifier that
//! trusts it, signing of arbitrary header and payload bytes with that key
//! (so the fuzzer reaches everything after the signature check), JSON
//! headers and claims built member by member from fuzzer choices, and a
//! reader of JSON objects that keeps duplicate members (serde_json's `Value`
//! silently keeps the last), for the targets' own verdicts.

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use authpair_claims::{SigningKey, Verifier, VerifierConfig};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{
    Signer as _,
    pkcs8::{EncodePrivateKey as _, spki::der::pem::LineEnding},
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use serde_json::{Value, json};

pub const ISSUER: &str = "authpair";
/// The verifying service's own audience.
pub const AUDIENCE: &str = "resource";
/// Another audience of the deployment, accepted on public methods only.
pub const PUBLIC_AUDIENCE: &str = "auth";
pub const LEEWAY: u64 = 30;
pub const MAX_LIFETIME: u64 = 900;
/// `Verifier`'s limit on `kid`, in bytes.
pub const MAX_KID_BYTES: usize = 128;

/// The fuzzer's key: fixed, so every run and every crash reproduces.
pub struct Fixture {
    pub dalek: ed25519_dalek::SigningKey,
    /// The same key as authpair holds it; its kid is derived from its RFC 7638
    /// thumbprint.
    pub key: SigningKey,
    /// Trusts `key` (and nothing else), with no cache: every call is a full
    /// verification.
    pub verifier: Verifier,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dalek = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pem = dalek.to_pkcs8_pem(LineEnding::LF).unwrap_or_else(|e| panic!("pem: {e}"));
        let key = SigningKey::from_pkcs8_pem(&pem).unwrap_or_else(|e| panic!("key: {e}"));
        let mut config = VerifierConfig::new(
            ISSUER.into(),
            AUDIENCE.into(),
            Duration::from_secs(LEEWAY),
            Duration::from_secs(MAX_LIFETIME),
        );
        config.public_audiences = vec![PUBLIC_AUDIENCE.into()];
        config.cache_bytes = 0;
        let verifier = Verifier::new(config);
        verifier.set_keys(&[key.public_jwk().clone()]).unwrap_or_else(|e| panic!("keys: {e}"));
        Fixture { dalek, key, verifier }
    })
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `base64url(header).base64url(payload)`, exactly what is signed.
pub fn signing_input(header: &[u8], payload: &[u8]) -> String {
    format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload))
}

/// The compact token for `header` and `payload`, signed by the fixture's key.
pub fn signed(header: &[u8], payload: &[u8]) -> String {
    let input = signing_input(header, payload);
    let signature = fixture().dalek.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// A payload every check passes, issued at `now`.
pub fn good_claims(now: u64) -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "exp": now + 600, "nbf": now, "iat": now,
        "jti": "token-1", "gen": 0, "client_id": "cli", "preferred_username": "ann", "roles": ["admin"],
        "scope": "orders:read", "plan": "free",
    })
}

/// One member's value, from a fuzzer choice: the right one, a near miss
/// from the member's own list, or any JSON type.
#[derive(Debug, Clone, Arbitrary)]
pub enum Field {
    Absent,
    Good,
    Near(u8),
    Text(String),
    /// Seconds from now (times) or a plain number.
    Relative(i32),
    Int(u64),
    Negative(i64),
    Float(f64),
    Null,
    Bool(bool),
    Texts(Vec<String>),
    Object,
}

/// How members are laid out in the JSON text.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Form {
    Object,
    /// The members' values as a JSON array, in order: not a JWT part.
    Array,
}

/// A JSON object built from fuzzer choices for a fixed list of members.
#[derive(Debug, Clone, Arbitrary)]
pub struct Built {
    pub fields: Vec<Field>,
    /// A member (by index) written a second time, before the others.
    pub duplicate: Option<(u8, Field)>,
    /// A member that is not in the list.
    pub extra: Option<(String, Field)>,
    pub form: Form,
}

/// A member: its name, its right value, and near misses.
pub struct Member {
    pub name: &'static str,
    pub good: fn(u64) -> Value,
    pub near: fn(u64) -> Vec<Value>,
}

fn value_of(member: &Member, field: &Field, now: u64) -> Option<Value> {
    Some(match field {
        Field::Absent => return None,
        Field::Good => (member.good)(now),
        Field::Near(i) => {
            let near = (member.near)(now);
            near.get(usize::from(*i) % near.len().max(1)).cloned().unwrap_or(Value::Null)
        }
        Field::Text(s) => Value::from(s.as_str()),
        Field::Relative(d) => Value::from(now.saturating_add_signed(i64::from(*d))),
        Field::Int(n) => Value::from(*n),
        Field::Negative(n) => Value::from(*n),
        Field::Float(f) => Value::from(*f),
        Field::Null => Value::Null,
        Field::Bool(b) => Value::from(*b),
        Field::Texts(v) => Value::from(v.clone()),
        Field::Object => json!({}),
    })
}

impl Built {
    /// Every member right: the JSON of a token that must verify.
    pub fn is_all_good(&self, members: &[Member]) -> bool {
        matches!(self.form, Form::Object)
            && self.duplicate.is_none()
            && (0..members.len()).all(|i| matches!(self.fields.get(i), None | Some(Field::Good)))
    }

    /// The JSON text. Members with no field chosen are right.
    pub fn json(&self, members: &[Member], now: u64) -> String {
        let mut values = Vec::new();
        for (i, member) in members.iter().enumerate() {
            let field = self.fields.get(i).unwrap_or(&Field::Good);
            if let Some(value) = value_of(member, field, now) {
                values.push((member.name.to_owned(), value));
            }
        }
        if let Some((name, field)) = &self.extra {
            let stand_in = Member { name: "", good: |_| json!("x"), near: |_| vec![json!(1)] };
            if let Some(value) = value_of(&stand_in, field, now) {
                values.push((name.clone(), value));
            }
        }
        match self.form {
            Form::Array => Value::from(values.into_iter().map(|(_, v)| v).collect::<Vec<_>>()).to_string(),
            Form::Object => {
                let mut text = String::from("{");
                if let Some((i, field)) = &self.duplicate {
                    let member = &members[usize::from(*i) % members.len()];
                    if let Some(value) = value_of(member, field, now) {
                        values.insert(0, (member.name.to_owned(), value));
                    }
                }
                let members: Vec<String> =
                    values.iter().map(|(name, value)| format!("{}:{value}", Value::from(name.as_str()))).collect();
                text.push_str(&members.join(","));
                text.push('}');
                text
            }
        }
    }
}

pub const HEADER: [Member; 3] = [
    Member {
        name: "alg",
        good: |_| json!("EdDSA"),
        near: |_| {
            vec![json!("eddsa"), json!("EdDSA "), json!("ES256"), json!("none"), json!("HS256"), json!("Ed25519")]
        },
    },
    Member {
        name: "typ",
        good: |_| json!("at+jwt"),
        near: |_| {
            vec![
                json!("AT+JWT"),
                json!("application/at+jwt"),
                json!("Application/AT+JWT"),
                json!("JWT"),
                json!("at+jwt "),
                json!("application/jwt"),
            ]
        },
    },
    Member {
        name: "kid",
        good: |_| json!(fixture().key.kid()),
        near: |_| {
            let kid = fixture().key.kid();
            vec![json!(""), json!(format!("{kid}x")), json!(kid.to_uppercase()), json!("k".repeat(MAX_KID_BYTES + 1))]
        },
    },
];

pub const CLAIMS: [Member; 15] = [
    Member {
        name: "iss",
        good: |_| json!(ISSUER),
        near: |_| vec![json!("authpair "), json!("Authpair"), json!([ISSUER])],
    },
    Member {
        name: "aud",
        good: |_| json!(AUDIENCE),
        near: |_| {
            vec![json!(PUBLIC_AUDIENCE), json!([AUDIENCE]), json!(["other", AUDIENCE]), json!([]), json!("other")]
        },
    },
    Member { name: "sub", good: |_| json!("user-1"), near: |_| vec![json!(""), json!("svc:orders")] },
    Member {
        name: "exp",
        good: |now| json!(now + 600),
        near: |now| {
            vec![json!(now - LEEWAY - 1), json!(now - LEEWAY), json!(now + MAX_LIFETIME), json!(now + MAX_LIFETIME + 1)]
        },
    },
    Member { name: "nbf", good: |now| json!(now), near: |now| vec![json!(now + LEEWAY), json!(now + LEEWAY + 1)] },
    Member {
        name: "iat",
        good: |now| json!(now),
        near: |now| vec![json!(now + LEEWAY), json!(now + LEEWAY + 1), json!(now - MAX_LIFETIME), json!(0)],
    },
    Member { name: "jti", good: |_| json!("token-1"), near: |_| vec![json!("")] },
    Member { name: "gen", good: |_| json!(0), near: |_| vec![json!(u64::MAX), json!(-1)] },
    Member { name: "client_id", good: |_| json!("cli"), near: |_| vec![json!("")] },
    Member { name: "preferred_username", good: |_| json!("ann"), near: |_| vec![json!("")] },
    Member {
        name: "roles",
        good: |_| json!(["admin"]),
        near: |_| vec![json!([]), json!(["bad role"]), json!([""]), json!(["r".repeat(65)]), json!("admin")],
    },
    Member { name: "scope", good: |_| json!("orders:read"), near: |_| vec![json!(""), json!(" a  b ")] },
    Member { name: "plan", good: |_| json!("free"), near: |_| vec![json!("")] },
    // A certificate-bound token (RFC 8705): one SHA-256 thumbprint.
    Member {
        name: "cnf",
        good: |_| json!({"x5t#S256": "qL6UsEftwCJ9tJrqSbrRHQgOQ5CdLyl-bNWJPrACbB4"}),
        near: |_| {
            vec![
                json!({"x5t#S256": "qL6UsEftwCJ9tJrqSbrRHQgOQ5CdLyl-bNWJPrACbB"}),
                json!({"x5t#S256": "qL6UsEftwCJ9tJrqSbrRHQgOQ5CdLyl+bNWJPrACbB4"}),
                json!({"x5t#S256": "qL6UsEftwCJ9tJrqSbrRHQgOQ5CdLyl-bNWJPrACbB4", "jkt": "k"}),
                json!({"jkt": "k"}),
                json!({}),
                json!(["x5t#S256"]),
            ]
        },
    },
    // A token from token exchange (RFC 8693): the services acting for
    // `sub`, nested, the current one outermost; at most four.
    Member {
        name: "act",
        good: |_| json!({"sub": "svc:orders"}),
        near: |_| {
            vec![
                json!({"sub": "svc:orders", "act": {"sub": "svc:gate"}}),
                json!({"sub": "svc:a", "act": {"sub": "svc:b", "act": {"sub": "svc:c", "act": {"sub": "svc:d"}}}}),
                json!({"sub": "svc:a", "act": {"sub": "svc:b", "act": {"sub": "svc:c", "act": {"sub": "svc:d", "act": {"sub": "svc:e"}}}}}),
                json!({"sub": "user-1"}),
                json!({"sub": "svc:"}),
                json!({"sub": "svc:Orders"}),
                json!({"sub": ""}),
                json!({"sub": "svc:orders", "iss": "elsewhere"}),
                json!({"sub": "svc:orders", "act": null}),
                json!({}),
                json!("svc:orders"),
            ]
        },
    },
];

/// A JSON object's members in order, duplicates kept; `None` for any text
/// that is not exactly one JSON object.
pub fn object_members(json: &[u8]) -> Option<Vec<(String, Value)>> {
    struct Members(Vec<(String, Value)>);
    impl<'de> serde::Deserialize<'de> for Members {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Members;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                    let mut members = Vec::new();
                    while let Some(member) = map.next_entry::<String, Value>()? {
                        members.push(member);
                    }
                    Ok(Members(members))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_slice::<Members>(json).ok().map(|m| m.0)
}

/// RFC 9068 §4: `typ` is "at+jwt", optionally "application/", any case.
pub fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}
