//! authpair's own Ed25519 check (`PreparedKey`, as `TrustedKey::Prepared`)
//! against ed25519-dalek's `VerifyingKey::verify_strict` and against
//! `TrustedKey::Stock`: the same keys are accepted as curve points, and
//! every (key, message, signature) gets the same verdict from all three.
//! Inputs are raw bytes, or signatures made here from a secret scalar and
//! nonce the fuzzer picks (so most verify), on keys and R values with
//! small-order components, with non-canonical encodings of s, R and A, and
//! with single bit flips: the edges where cofactorless, strict verification
//! is easy to get subtly wrong.
#![no_main]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use authpair_claims::token::ed25519::{Ed25519Backend, PreparedKey, TrustedKey};
use curve25519_dalek::{EdwardsPoint, Scalar, constants::EIGHT_TORSION};
use libfuzzer_sys::{arbitrary, fuzz_target};
use sha2::{Digest, Sha512};

#[derive(Debug, arbitrary::Arbitrary)]
enum Input {
    /// Any key bytes, message and signature.
    Raw { key: [u8; 32], message: Vec<u8>, signature: Vec<u8> },
    /// A real ed25519-dalek signature under a key from `seed`.
    Dalek { seed: [u8; 32], message: Vec<u8>, flip: Option<u16> },
    /// A signature computed here: s = r + k·a over R = [r]B (+ torsion),
    /// A = [a]B (+ torsion), then changed.
    Made { secret: [u8; 32], nonce: [u8; 32], key_torsion: u8, r_torsion: u8, message: Vec<u8>, change: Change },
}

#[derive(Debug, arbitrary::Arbitrary)]
enum Change {
    None,
    /// s + ℓ: the same scalar, non-canonically encoded.
    NonCanonicalS,
    /// R's or A's encoding with the sign bit set where x = 0, or y + p
    /// where y < 19: another encoding of the same point.
    NonCanonicalR,
    NonCanonicalKey,
    FlipBit(u16),
    /// s replaced by these bytes.
    S([u8; 32]),
    /// R replaced by these bytes.
    R([u8; 32]),
}

/// Keys prepared once per key bytes (a table costs about 16 checks).
fn prepared(key: &[u8; 32]) -> Option<Arc<TrustedKey>> {
    static KEYS: OnceLock<Mutex<HashMap<[u8; 32], Option<Arc<TrustedKey>>>>> = OnceLock::new();
    let mut keys = KEYS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if keys.len() > 512 {
        keys.clear();
    }
    keys.entry(*key).or_insert_with(|| PreparedKey::new(key).map(|k| Arc::new(TrustedKey::Prepared(k)))).clone()
}

/// Another encoding of the same point, where one exists: y + p for y < 19
/// (p = 2^255 − 19), or the sign bit set when x = 0 (y = ±1).
fn non_canonical(encoding: [u8; 32]) -> [u8; 32] {
    let mut y = encoding;
    y[31] &= 0x7f;
    let small = y[1..].iter().all(|&b| b == 0) && y[0] < 19;
    let mut out = encoding;
    if small {
        // y + p: add 2^255 − 19 to the 255-bit y, keeping the sign bit.
        let mut carry = 0u16;
        let p: [u8; 32] = {
            let mut p = [0xff; 32];
            p[0] = 0xed;
            p[31] = 0x7f;
            p
        };
        for i in 0..32 {
            let sum = u16::from(y[i]) + u16::from(p[i]) + carry;
            out[i] = sum as u8;
            carry = sum >> 8;
        }
        out[31] = (out[31] & 0x7f) | (encoding[31] & 0x80);
    }
    if y[0] == 1 && y[1..].iter().all(|&b| b == 0) {
        // x = 0: the sign bit set names the same point (or none at all).
        out[31] |= 0x80;
    }
    out
}

fn hash_scalar(parts: &[&[u8]]) -> Scalar {
    let mut hash = Sha512::new();
    for part in parts {
        hash.update(part);
    }
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

fn check(key: &[u8; 32], message: &[u8], signature: &[u8]) {
    let reference = ed25519_dalek::VerifyingKey::from_bytes(key).ok();
    let ours = prepared(key);
    let stock = TrustedKey::new(key, Ed25519Backend::Stock);
    assert_eq!(ours.is_some(), reference.is_some(), "key {key:02x?} accepted differently");
    assert_eq!(stock.is_some(), reference.is_some(), "stock key {key:02x?}");
    let (Some(ours), Some(reference), Some(stock)) = (ours, reference, stock) else { return };
    let expected = ed25519_dalek::Signature::from_slice(signature)
        .is_ok_and(|signature| reference.verify_strict(message, &signature).is_ok());
    assert_eq!(
        ours.verify(message, signature).is_ok(),
        expected,
        "prepared disagrees with verify_strict: key {key:02x?} message {message:02x?} signature {signature:02x?}"
    );
    assert_eq!(stock.verify(message, signature).is_ok(), expected, "stock backend");
}

fuzz_target!(|input: Input| match input {
    Input::Raw { key, message, signature } => check(&key, &message, &signature),
    Input::Dalek { seed, message, flip } => {
        use ed25519_dalek::Signer as _;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let mut signature = key.sign(&message).to_bytes();
        if let Some(bit) = flip {
            let bit = usize::from(bit) % 512;
            signature[bit / 8] ^= 1 << (bit % 8);
        }
        check(key.verifying_key().as_bytes(), &message, &signature);
    }
    Input::Made { secret, nonce, key_torsion, r_torsion, message, change } => {
        let a = Scalar::from_bytes_mod_order(secret);
        let r = Scalar::from_bytes_mod_order(nonce);
        let point = |scalar: &Scalar, torsion: u8| -> EdwardsPoint {
            EdwardsPoint::mul_base(scalar) + EIGHT_TORSION[usize::from(torsion % 8)]
        };
        let mut key = point(&a, key_torsion).compress().to_bytes();
        let mut big_r = point(&r, r_torsion).compress().to_bytes();
        match change {
            Change::NonCanonicalKey => key = non_canonical(key),
            Change::NonCanonicalR => big_r = non_canonical(big_r),
            Change::R(bytes) => big_r = bytes,
            _ => {}
        }
        // k over the encodings as they will be sent, as the verifier hashes them.
        let k = hash_scalar(&[&big_r, &key, &message]);
        let s = r + k * a;
        let mut s_bytes = s.to_bytes();
        match change {
            Change::NonCanonicalS => {
                // s + ℓ, which is below 2^253 and so fits.
                s_bytes = add_l(s_bytes);
            }
            Change::S(bytes) => s_bytes = bytes,
            _ => {}
        }
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice(&s_bytes);
        if let Change::FlipBit(bit) = change {
            let bit = usize::from(bit) % 512;
            signature[bit / 8] ^= 1 << (bit % 8);
        }
        check(&key, &message, &signature);
    }
});

/// `s + ℓ` as 32 little-endian bytes (ℓ = 2^252 + 27742317777372353535851937790883648493).
fn add_l(s: [u8; 32]) -> [u8; 32] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out
}
