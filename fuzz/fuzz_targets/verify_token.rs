//! The whole `Verifier::verify` path with a real trusted key. The fuzzer
//! writes a header and a payload (member by member, or as raw text) and the
//! target signs them with that key, so every check after the signature is
//! reached; it may then spoil the signature. Verification never panics, an
//! arbitrary string never verifies, and a token that does verify has a
//! genuine signature, a header of exactly alg EdDSA, typ at+jwt and the
//! key's kid, and claims that pass every documented check (object form,
//! each member once, only `nbf`, `preferred_username`, `cnf` and `act`
//! optional, `iss`, `aud`, the `exp`/`nbf`/`iat` window with leeway,
//! lifetime, non-empty `sub` and `jti`, well-formed roles, a `cnf` that is
//! exactly one SHA-256 certificate thumbprint, an `act` chain of at most
//! four services with only `sub` and `act`), which the returned `Claims`
//! reports unchanged. A header and payload with every
//! member right must verify.
#![no_main]

use authpair_claims::token::verifier::MAX_TOKEN_BYTES;
use authpair_fuzz::{
    AUDIENCE, Built, CLAIMS, HEADER, ISSUER, LEEWAY, MAX_LIFETIME, PUBLIC_AUDIENCE, fixture, is_access_token_type, now,
    object_members, signed,
};
use libfuzzer_sys::{arbitrary, fuzz_target};
use serde_json::Value;

#[derive(Debug, arbitrary::Arbitrary)]
enum Input {
    /// Any string as the token.
    Raw(String),
    Signed {
        header: Part,
        claims: Part,
        signature: Spoil,
    },
}

#[derive(Debug, arbitrary::Arbitrary)]
enum Part {
    Built(Built),
    Text(String),
}

/// What happens to a good signature.
#[derive(Debug, arbitrary::Arbitrary)]
enum Spoil {
    None,
    /// One bit of the 64 bytes flipped.
    FlipBit(u16),
    /// Cut to this many bytes.
    Truncate(u8),
    /// The signature of other bytes.
    OtherMessage(Vec<u8>),
}

fn text(part: &Part, members: &[authpair_fuzz::Member], now: u64) -> String {
    match part {
        Part::Built(built) => built.json(members, now),
        Part::Text(text) => text.clone(),
    }
}

fuzz_target!(|input: Input| {
    let fixture = fixture();
    let (header, claims, spoil) = match &input {
        Input::Raw(token) => {
            // The fuzzer does not hold the key: nothing it writes verifies.
            assert!(fixture.verifier.verify(token).is_err(), "{token:?} verified");
            return;
        }
        Input::Signed { header, claims, signature } => (header, claims, signature),
    };
    let before = now();
    let (header_json, claims_json) = (text(header, &HEADER, before), text(claims, &CLAIMS, before));
    let mut token = signed(header_json.as_bytes(), claims_json.as_bytes());
    let genuine = match spoil {
        Spoil::None => true,
        Spoil::FlipBit(bit) => {
            token = flip(&token, usize::from(*bit) % 512);
            false
        }
        Spoil::Truncate(len) => {
            token = truncate(&token, usize::from(*len) % 64);
            false
        }
        Spoil::OtherMessage(other) => {
            let theirs = signed(b"{}", other);
            let (_, signature) = theirs.rsplit_once('.').unwrap_or_default();
            let (input, _) = token.rsplit_once('.').unwrap_or_default();
            token = format!("{input}.{signature}");
            false
        }
    };

    let verdict = fixture.verifier.verify(&token);
    let after = now();

    // A token over the size limit is refused for its size alone.
    let must_verify = genuine
        && token.len() <= MAX_TOKEN_BYTES
        && matches!(header, Part::Built(b) if b.is_all_good(&HEADER) && b.extra.is_none())
        && matches!(claims, Part::Built(b) if b.is_all_good(&CLAIMS)
            && b.extra.as_ref().is_none_or(|(name, _)| CLAIMS.iter().all(|m| m.name != name)));
    let claims = match verdict {
        Ok(claims) => claims,
        Err(e) => {
            assert!(!must_verify, "a token with every member right was refused: {e:?}\n{header_json}\n{claims_json}");
            return;
        }
    };
    assert!(genuine, "a spoiled signature verified: {spoil:?}");

    // The header: exactly three members, each once.
    let header =
        object_members(header_json.as_bytes()).unwrap_or_else(|| panic!("header not an object: {header_json}"));
    let names: Vec<&str> = header.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.len() == 3 && ["alg", "typ", "kid"].iter().all(|n| names.contains(n)), "header {header_json}");
    let member = |name: &str| header.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_str());
    assert_eq!(member("alg"), Some("EdDSA"), "{header_json}");
    assert!(member("typ").is_some_and(is_access_token_type), "{header_json}");
    assert_eq!(member("kid"), Some(fixture.key.kid()), "{header_json}");

    // The claims: an object, each known member once, with its checks.
    let members =
        object_members(claims_json.as_bytes()).unwrap_or_else(|| panic!("payload not an object: {claims_json}"));
    for known in &CLAIMS {
        let count = members.iter().filter(|(n, _)| n == known.name).count();
        let optional = ["nbf", "preferred_username", "cnf", "act"].contains(&known.name);
        assert!(count == 1 || (optional && count == 0), "{} appears {count} times: {claims_json}", known.name);
    }
    let get = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
    let string = |name: &str| get(name).as_str().map(str::to_owned).unwrap_or_else(|| panic!("{name}: {claims_json}"));
    let number = |name: &str| get(name).as_u64().unwrap_or_else(|| panic!("{name}: {claims_json}"));
    let (exp, iat) = (number("exp"), number("iat"));
    let nbf = members.iter().any(|(n, _)| n == "nbf").then(|| number("nbf"));
    assert_eq!(string("iss"), ISSUER);
    let audiences: Vec<String> = match get("aud") {
        Value::String(one) => vec![one],
        Value::Array(many) => {
            many.iter().map(|a| a.as_str().map(str::to_owned).unwrap_or_else(|| panic!("aud"))).collect()
        }
        other => panic!("aud {other}"),
    };
    assert!(audiences.iter().any(|a| a == AUDIENCE || a == PUBLIC_AUDIENCE), "{claims_json}");
    assert_eq!(claims.is_for_this_service(), audiences.iter().any(|a| a == AUDIENCE));
    assert!(exp.saturating_add(LEEWAY) >= before, "expired: {claims_json}");
    assert!(nbf.is_none_or(|nbf| nbf <= after + LEEWAY), "not yet valid: {claims_json}");
    assert!(iat <= after + LEEWAY, "issued in the future: {claims_json}");
    assert!(exp.saturating_sub(iat) <= MAX_LIFETIME, "lifetime: {claims_json}");
    assert!(!string("sub").is_empty() && !string("jti").is_empty(), "{claims_json}");
    let roles = get("roles");
    let roles = roles.as_array().unwrap_or_else(|| panic!("roles: {claims_json}"));
    for role in roles {
        let role = role.as_str().unwrap_or_else(|| panic!("role: {claims_json}"));
        let valid =
            (1..=64).contains(&role.len()) && role.bytes().all(|b| b.is_ascii_alphanumeric() || b":._-/".contains(&b));
        assert!(valid, "role {role:?}: {claims_json}");
    }
    number("gen");
    for name in ["client_id", "scope", "plan"] {
        string(name);
    }
    let username = members.iter().any(|(n, _)| n == "preferred_username").then(|| string("preferred_username"));
    assert_eq!(claims.username(), username.unwrap_or_else(|| string("sub")));

    // What the caller is told is what was signed.
    assert_eq!(claims.subject(), string("sub"));
    assert_eq!(claims.token_id(), string("jti"));
    assert_eq!(claims.issuer(), ISSUER);
    assert_eq!((claims.expires_at(), claims.issued_at(), claims.generation()), (exp, iat, number("gen")));
    assert_eq!(claims.audiences(), audiences.as_slice());
    assert_eq!(claims.roles().len(), roles.len());
    assert_eq!(claims.plan(), string("plan"));
    // A bound token (RFC 8705): `cnf` is exactly one `x5t#S256`, a SHA-256
    // in base64url, which the caller is told; an unbound token binds nothing.
    match members.iter().find(|(n, _)| n == "cnf") {
        None => assert_eq!(claims.bound_certificate(), None, "{claims_json}"),
        Some((_, cnf)) => {
            use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
            let only = cnf.as_object().filter(|members| members.len() == 1);
            let x5t = only.and_then(|members| members.get("x5t#S256")).and_then(Value::as_str);
            let x5t = x5t.unwrap_or_else(|| panic!("cnf {cnf}: {claims_json}"));
            let thumbprint = URL_SAFE_NO_PAD.decode(x5t).unwrap_or_else(|_| panic!("x5t#S256 {x5t:?}"));
            assert_eq!(claims.bound_certificate().map(|t| t.as_slice()), Some(thumbprint.as_slice()), "{claims_json}");
        }
    }
    // A delegated token (RFC 8693 §4.1): `act` nests services only, each
    // level `sub` and at most `act`, four at most, reported in order.
    let mut actors = Vec::new();
    let mut act = members.iter().find(|(n, _)| n == "act").map(|(_, v)| v.clone());
    while let Some(level) = act {
        let level = level.as_object().unwrap_or_else(|| panic!("act {level}: {claims_json}"));
        assert!(level.keys().all(|k| k == "sub" || k == "act"), "act {level:?}: {claims_json}");
        let sub = level.get("sub").and_then(Value::as_str).unwrap_or_else(|| panic!("act.sub: {claims_json}"));
        let name = sub.strip_prefix("svc:").unwrap_or_else(|| panic!("act.sub {sub:?}: {claims_json}"));
        assert!(authpair_claims::token::claims::is_service_account_name(name), "act.sub {sub:?}: {claims_json}");
        actors.push(sub.to_owned());
        act = level.get("act").cloned();
        assert!(act.as_ref().is_none_or(|a| !a.is_null()), "act null: {claims_json}");
    }
    assert!(actors.len() <= authpair_claims::token::claims::MAX_ACTORS, "{claims_json}");
    assert_eq!(claims.actors(), actors.as_slice(), "{claims_json}");
});

/// `token` with one bit of its signature flipped (re-encoded, so the
/// token stays base64url and only the signature changes).
fn flip(token: &str, bit: usize) -> String {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    let Some((input, signature)) = token.rsplit_once('.') else { return token.to_owned() };
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    if let Some(byte) = bytes.get_mut(bit / 8) {
        *byte ^= 1 << (bit % 8);
    }
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// `token` with its signature cut to `len` bytes.
fn truncate(token: &str, len: usize) -> String {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    let Some((input, signature)) = token.rsplit_once('.') else { return token.to_owned() };
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    bytes.truncate(len);
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes))
}
