//! Criterion benchmarks of the per-call auth path and its parts.
//!
//! `cargo bench -p authpair-claims` (figures in BENCHMARKS.md). In CI,
//! `cargo test --benches` runs each once as a smoke test.

// Setup that fails means a broken machine, not a result: fail loudly.
#![allow(clippy::expect_used)]

use std::{hint::black_box, sync::Arc, time::Duration};

use authpair_claims::{
    AuthLayer, Denylist, Grant, Policy, Revocation, SigningKey, TokenSigner, Verifier, VerifierConfig,
};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;

const ISS: &str = "authpair";

fn grant(subject: &str) -> Grant {
    Grant {
        subject: subject.into(),
        username: subject.into(),
        client_id: "bench".into(),
        roles: vec!["viewer".into()],
        scopes: vec!["profile".into(), "documents:read".into()],
        plan: "free".into(),
        generation: 0,
        audience: ISS.into(),
        certificate: None,
        actors: Vec::new(),
        not_after: None,
    }
}

struct Setup {
    key: SigningKey,
    signer: TokenSigner,
}

fn setup() -> Setup {
    let key = SigningKey::generate().expect("key");
    let signer = TokenSigner::new(ISS.into(), Duration::from_secs(900));
    Setup { key, signer }
}

fn verifier(setup: &Setup, cache_bytes: u64) -> Arc<Verifier> {
    let mut config = VerifierConfig::new(ISS.into(), ISS.into(), Duration::from_secs(30), Duration::from_secs(900));
    config.cache_bytes = cache_bytes;
    let verifier = Verifier::new(config);
    verifier.set_keys(&[setup.key.public_jwk().clone()]).expect("keys");
    Arc::new(verifier)
}

fn token(setup: &Setup, subject: &str) -> String {
    setup.signer.issue(&setup.key, &grant(subject)).expect("sign").token.expose_secret().to_owned()
}

/// The method every auth-layer bench calls: any authenticated caller.
const PATH: &str = "/resource.v1.ResourceService/GetMyProfile";

fn headers(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, HeaderValue::try_from(format!("Bearer {token}")).expect("header"));
    headers
}

fn verification(c: &mut Criterion) {
    let setup = setup();
    let verifier = verifier(&setup, 0);
    let token = token(&setup, "alice");
    c.bench_function("verify EdDSA token (no cache)", |b| {
        b.iter(|| verifier.verify_uncached(black_box(&token)).expect("valid"))
    });
    c.bench_function("issue EdDSA token", |b| b.iter(|| setup.signer.issue(&setup.key, black_box(&grant("alice")))));
}

/// curve25519-dalek's own precomputed variable-time multiscalar
/// multiplication (Straus over width-8 NAF tables of B and −A, built once per
/// key; the crate's default `alloc` feature), with the same strict checks as
/// [`authpair_claims::token::ed25519::PreparedKey`]: the candidate the hand-written
/// fixed-base tables have to beat to keep their place.
struct Precomputed {
    bytes: [u8; 32],
    weak: bool,
    table: curve25519_dalek::edwards::VartimeEdwardsPrecomputation,
}

impl Precomputed {
    fn new(bytes: &[u8; 32]) -> Option<Self> {
        use curve25519_dalek::{
            constants::ED25519_BASEPOINT_POINT, edwards::CompressedEdwardsY,
            traits::VartimePrecomputedMultiscalarMul as _,
        };
        let a = CompressedEdwardsY(*bytes).decompress()?;
        let table = curve25519_dalek::edwards::VartimeEdwardsPrecomputation::new([ED25519_BASEPOINT_POINT, -a]);
        Some(Self { bytes: *bytes, weak: a.is_small_order(), table })
    }

    fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        use curve25519_dalek::{Scalar, traits::VartimePrecomputedMultiscalarMul as _};
        use sha2::{Digest, Sha512};
        let (r, s) = signature.split_at(32);
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s.try_into().unwrap_or_default())) else {
            return false;
        };
        if self.weak {
            return false;
        }
        let k = Scalar::from_hash(Sha512::new().chain_update(r).chain_update(self.bytes).chain_update(message));
        let expected = self.table.vartime_multiscalar_mul([s, k]);
        expected.compress().as_bytes() == r && !expected.is_small_order()
    }
}

/// The signature check alone, on a token-sized message, three ways: the
/// prepared key's hand-written fixed-base tables (the verifier's default
/// backend), curve25519-dalek's `VartimeEdwardsPrecomputation` with the same
/// checks, and ed25519-dalek's `verify_strict` (the stock backend). All three
/// reach the same verdict; only the cost differs.
fn signature_check(c: &mut Criterion) {
    use ed25519_dalek::Signer as _;
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let message = vec![b'e'; 560];
    let signature = signing.sign(&message);
    let dalek = signing.verifying_key();
    let prepared =
        authpair_claims::token::ed25519::PreparedKey::new(&dalek.to_bytes()).expect("a generated key is a curve point");
    let precomputed = Precomputed::new(&dalek.to_bytes()).expect("a generated key is a curve point");
    let bytes = signature.to_bytes();
    assert!(precomputed.verify(&message, &bytes), "the precomputed check accepts a valid signature");
    c.bench_function("Ed25519 check: prepared key (hand tables)", |b| {
        b.iter(|| prepared.verify(black_box(&message), &bytes).expect("valid"))
    });
    c.bench_function("Ed25519 check: VartimeEdwardsPrecomputation", |b| {
        b.iter(|| assert!(precomputed.verify(black_box(&message), &bytes)))
    });
    c.bench_function("Ed25519 check: ed25519-dalek verify_strict", |b| {
        b.iter(|| dalek.verify_strict(black_box(&message), &signature).expect("valid"))
    });
}

/// The auth layer's decision (authentication, then authorization) for one
/// call, without the HTTP/2 server around it.
fn auth_layer(c: &mut Criterion) {
    let setup = setup();
    let policy = Policy::from_descriptors(authpair_proto::FILE_DESCRIPTOR_SET, authpair_proto::RESOURCE_SERVICES);
    let policy = Arc::new(policy.expect("policy"));
    let denylist = Arc::new(Denylist::local());

    let hit = AuthLayer::new("bench", verifier(&setup, 16 << 20), denylist.clone(), policy.clone());
    let reused = headers(&token(&setup, "alice"));
    c.bench_function("auth layer: repeat token (cache hit)", |b| {
        b.iter(|| hit.decide(PATH, black_box(&reused), || None).map(|(_, caller)| caller).expect("allowed"))
    });

    // More distinct tokens than the cache holds, cycled: every call misses
    // and inserts, as with a fresh token per call.
    let miss = AuthLayer::new("bench", verifier(&setup, 1 << 20), denylist, policy);
    let tokens: Vec<HeaderMap> = (0..20_000).map(|i| headers(&token(&setup, &format!("user-{i}")))).collect();
    let mut next = 0;
    c.bench_function("auth layer: new token (cache miss)", |b| {
        b.iter(|| {
            next = (next + 1) % tokens.len();
            miss.decide(PATH, &tokens[next], || None).map(|(_, caller)| caller).expect("allowed")
        })
    });
}

fn denylist(c: &mut Criterion) {
    let setup = setup();
    let verifier = verifier(&setup, 0);
    let list = Denylist::local();
    let far = i64::MAX / 2;
    for _ in 0..1_000_000 {
        let token_id = uuid::Uuid::new_v4().to_string();
        list.apply(Revocation::Token { issuer: ISS.into(), token_id, expires_at: far });
    }
    let live = verifier.verify(&token(&setup, "alice")).expect("valid");
    c.bench_function("denylist check, 1M revoked tokens", |b| b.iter(|| list.check(black_box(&live))));
}

criterion_group!(benches, verification, signature_check, auth_layer, denylist);
criterion_main!(benches);
