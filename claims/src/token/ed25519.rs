//! Ed25519 signature checks against a trusted public key, with
//! ed25519-dalek's `verify_strict` verdict on every input, by one of two
//! backends ([`Ed25519Backend`]): ed25519-dalek itself, or a key prepared once
//! with fixed-base tables ([`PreparedKey`]).
//!
//! The verdict (RFC 8032 §5.1.7, cofactorless, with `verify_strict`'s
//! extra refusals): the signature is 64 bytes, R ‖ s; `s` is canonical
//! (< ℓ); neither the public key A nor R is of small order; k = SHA-512(R ‖ A
//! ‖ M) mod ℓ over the key's bytes as given; and the encoding of
//! `[s]B + [k](−A)` equals R's bytes. The `agrees_with_ed25519_dalek_*` tests
//! below and the Wycheproof and RFC 8032 vectors in
//! `claims/tests/ed25519_vectors.rs` hold both backends to it.
//!
//! Why prepare a key: a service trusts one or two public keys and checks
//! every fresh token's signature against them. ed25519-dalek computes
//! `[s]B − [k]A` with a variable-base double-scalar multiplication that
//! rebuilds a small table for A on every call and runs ~253 doublings. With A
//! fixed, both products can come from tables built once: for a point P, row i
//! of its table holds 1·2^(6i)·P … 32·2^(6i)·P. A scalar recoded into 43
//! signed base-64 digits then costs 43 table look-ups and additions (a
//! negative digit subtracts) and no doubling, so `[s]B + [k](−A)` is 86
//! additions. curve25519-dalek's own `VartimeEdwardsPrecomputation` still
//! doubles ~253 times; `claims/benches/auth_path.rs` compares the three.
//!
//! Why variable time: every input of a verification is public (the key, the
//! message, the signature), as in ed25519-dalek's own verification.
//! curve25519-dalek has no variable-time fixed-base multiplication, so this
//! module builds its tables from the crate's public point arithmetic.

use std::sync::LazyLock;

use curve25519_dalek::{
    EdwardsPoint, Scalar, constants::ED25519_BASEPOINT_POINT, edwards::CompressedEdwardsY, traits::Identity,
};
use sha2::{Digest, Sha512};

/// Bits per digit. Wider windows mean fewer additions but larger tables,
/// whose look-ups leave the core's caches: 6 keeps a table at 215 KiB (7
/// would be 380 KiB for a few percent more speed; 5 is markedly slower, see
/// BENCHMARKS.md).
const WINDOW: usize = 6;
/// Digits per scalar: enough for any 256-bit value, so the recoding's last
/// carry always has room (the top digit holds 4 bits plus a carry: ≤ 16).
const DIGITS: usize = 256usize.div_ceil(WINDOW);
/// Largest digit magnitude, and so the entries per row.
const ENTRIES: usize = 1 << (WINDOW - 1);

// The top digit holds what is left of 256 bits, plus a carry: it must stay
// under ENTRIES, so that no carry leaves it.
const _: () = assert!(1 << (256 - WINDOW * (DIGITS - 1)) < ENTRIES, "the top digit cannot carry");

/// For a point P, `rows[i][j]` = (j + 1)·2^(WINDOW·i)·P. About 215 KiB.
struct FixedBaseTable {
    rows: Box<[[EdwardsPoint; ENTRIES]]>,
}

impl FixedBaseTable {
    fn new(point: &EdwardsPoint) -> Self {
        let mut rows = Vec::with_capacity(DIGITS);
        let mut base = *point;
        for _ in 0..DIGITS {
            let mut row = [base; ENTRIES];
            for j in 1..ENTRIES {
                row[j] = row[j - 1] + base;
            }
            rows.push(row);
            // 2·ENTRIES·base = 2^WINDOW·base: the next row's first entry.
            base = row[ENTRIES - 1] + row[ENTRIES - 1];
        }
        Self { rows: rows.into_boxed_slice() }
    }

    /// Adds Σ digits[i]·2^(WINDOW·i)·P to `sum`, in variable time.
    fn add_product(&self, sum: EdwardsPoint, digits: &[i8; DIGITS]) -> EdwardsPoint {
        self.rows.iter().zip(digits).fold(sum, |sum, (row, &digit)| {
            let entry = usize::from(digit.unsigned_abs());
            match row.get(entry.wrapping_sub(1)) {
                // entry 0 wraps past the row's end: the digit adds nothing.
                None => sum,
                Some(multiple) if digit > 0 => sum + multiple,
                Some(multiple) => sum - multiple,
            }
        })
    }
}

/// The scalar's value as Σ digits[i]·2^(WINDOW·i), each digit in
/// [−ENTRIES, ENTRIES): the signed fixed-window recoding.
fn signed_digits(scalar: &Scalar) -> [i8; DIGITS] {
    let bytes = scalar.as_bytes();
    let byte = |i: usize| u32::from(bytes.get(i).copied().unwrap_or(0));
    let mut digits = [0i8; DIGITS];
    let mut carry = 0u32;
    for (i, digit) in digits.iter_mut().enumerate() {
        let bit = i * WINDOW;
        let window = ((byte(bit / 8) | byte(bit / 8 + 1) << 8) >> (bit % 8)) & ((1 << WINDOW) - 1);
        let value = window + carry;
        // value ≤ 2^WINDOW; from ENTRIES up it becomes value − 2^WINDOW, and
        // the next digit carries one more.
        carry = u32::from(value >= ENTRIES as u32);
        *digit = (value as i32 - ((carry as i32) << WINDOW)) as i8;
    }
    debug_assert_eq!(carry, 0, "DIGITS leaves room for the last carry");
    digits
}

/// The basepoint's table, built on first use (1,419 point additions, about
/// as many as 16 checks).
static BASEPOINT: LazyLock<FixedBaseTable> = LazyLock::new(|| FixedBaseTable::new(&ED25519_BASEPOINT_POINT));

/// A public key ready for fast verification: its bytes as given (they are
/// hashed into k) and a fixed-base table of −A (about 215 KiB; building one
/// costs about as much as 16 checks).
pub struct PreparedKey {
    bytes: [u8; 32],
    /// A is of small order: `verify_strict` refuses every signature under it.
    weak: bool,
    minus_a: FixedBaseTable,
}

impl std::fmt::Debug for PreparedKey {
    /// A public key: its bytes are not secret; the table is just bulk.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedKey").field("bytes", &self.bytes).field("weak", &self.weak).finish_non_exhaustive()
    }
}

/// The signature did not verify, or was not a well-formed signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSignature;

impl PreparedKey {
    /// Prepares `bytes`, or `None` when they do not decode to a curve point
    /// (the keys ed25519-dalek's `VerifyingKey::from_bytes` refuses).
    pub fn new(bytes: &[u8; 32]) -> Option<Self> {
        let a = CompressedEdwardsY(*bytes).decompress()?;
        Some(Self { bytes: *bytes, weak: a.is_small_order(), minus_a: FixedBaseTable::new(&-a) })
    }

    /// The key's bytes, as given to [`PreparedKey::new`].
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Checks `signature` (R ‖ s, 64 bytes) on `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        let (r, s) = signature.split_at_checked(32).ok_or(BadSignature)?;
        let r: &[u8; 32] = r.try_into().map_err(|_| BadSignature)?;
        let s: [u8; 32] = s.try_into().map_err(|_| BadSignature)?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).ok_or(BadSignature)?;
        if self.weak {
            return Err(BadSignature);
        }
        let k = Scalar::from_hash(Sha512::new().chain_update(r).chain_update(self.bytes).chain_update(message));
        let expected = BASEPOINT.add_product(EdwardsPoint::identity(), &signed_digits(&s));
        let expected = self.minus_a.add_product(expected, &signed_digits(&k));
        // R' equals R's bytes only if R is the canonical encoding of R', so
        // R decompresses to R' and "R is of small order" is "R' is".
        if expected.compress().as_bytes() == r && !expected.is_small_order() { Ok(()) } else { Err(BadSignature) }
    }
}

/// Which code checks EdDSA signatures: an operator's choice, with the same
/// verdict either way (`verify_strict`'s). Parsed from and shown as
/// `prepared` or `stock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ed25519Backend {
    /// [`PreparedKey`]: fixed-base tables built once per trusted key (about
    /// 215 KiB each).
    #[default]
    Prepared,
    /// ed25519-dalek's `VerifyingKey::verify_strict`, nothing of ours.
    Stock,
}

impl Ed25519Backend {
    /// Every backend, the default first.
    pub const ALL: [Ed25519Backend; 2] = [Ed25519Backend::Prepared, Ed25519Backend::Stock];

    /// The name operators write: `prepared` or `stock`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ed25519Backend::Prepared => "prepared",
            Ed25519Backend::Stock => "stock",
        }
    }
}

impl std::str::FromStr for Ed25519Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|b| b.as_str() == s).ok_or_else(|| {
            format!("unknown Ed25519 backend {:?}: expected prepared or stock", s.chars().take(64).collect::<String>())
        })
    }
}

impl std::fmt::Display for Ed25519Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trusted Ed25519 public key, ready to check signatures with one backend.
#[derive(Debug)]
pub enum TrustedKey {
    /// Checked with this crate's fixed-base tables.
    Prepared(PreparedKey),
    /// Checked by ed25519-dalek's `verify_strict`.
    Stock(ed25519_dalek::VerifyingKey),
}

impl TrustedKey {
    /// `bytes` ready for `backend`, or `None` when they do not decode to a
    /// curve point (the keys ed25519-dalek's `VerifyingKey::from_bytes`
    /// refuses).
    pub fn new(bytes: &[u8; 32], backend: Ed25519Backend) -> Option<Self> {
        match backend {
            Ed25519Backend::Prepared => PreparedKey::new(bytes).map(Self::Prepared),
            Ed25519Backend::Stock => ed25519_dalek::VerifyingKey::from_bytes(bytes).ok().map(Self::Stock),
        }
    }

    /// The backend this key checks signatures with.
    pub fn backend(&self) -> Ed25519Backend {
        match self {
            Self::Prepared(_) => Ed25519Backend::Prepared,
            Self::Stock(_) => Ed25519Backend::Stock,
        }
    }

    /// The key's bytes, as given to [`TrustedKey::new`].
    pub fn bytes(&self) -> &[u8; 32] {
        match self {
            Self::Prepared(key) => key.bytes(),
            Self::Stock(key) => key.as_bytes(),
        }
    }

    /// Checks `signature` (R ‖ s, 64 bytes) on `message`, as
    /// `verify_strict` does.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        match self {
            Self::Prepared(key) => key.verify(message, signature),
            Self::Stock(key) => {
                let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| BadSignature)?;
                key.verify_strict(message, &signature).map_err(|_| BadSignature)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::{constants::EIGHT_TORSION, scalar::Scalar};
    use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
    use proptest::prelude::*;

    use super::*;

    /// ed25519-dalek's `verify_strict` verdict on the same inputs (the
    /// reference); `None` when the key is not a curve point.
    fn dalek(key: &[u8; 32], message: &[u8], signature: &[u8]) -> Option<bool> {
        let key = VerifyingKey::from_bytes(key).ok()?;
        let signature = ed25519_dalek::Signature::from_slice(signature).ok();
        Some(signature.is_some_and(|sig| key.verify_strict(message, &sig).is_ok()))
    }

    /// ed25519-dalek's lax `verify` (cofactorless, small orders allowed): not
    /// the reference, only a witness that an edge case is a real one.
    fn lax(key: &[u8; 32], message: &[u8], signature: &[u8]) -> Option<bool> {
        let key = VerifyingKey::from_bytes(key).ok()?;
        let signature = ed25519_dalek::Signature::from_slice(signature).ok();
        Some(signature.is_some_and(|sig| key.verify(message, &sig).is_ok()))
    }

    fn ours(key: &[u8; 32], message: &[u8], signature: &[u8], backend: Ed25519Backend) -> Option<bool> {
        let key = TrustedKey::new(key, backend)?;
        assert_eq!(key.backend(), backend);
        Some(key.verify(message, signature).is_ok())
    }

    /// The reference's verdict, after checking that both backends reach it.
    fn agree(key: &[u8; 32], message: &[u8], signature: &[u8]) -> Option<bool> {
        let verdict = dalek(key, message, signature);
        for backend in Ed25519Backend::ALL {
            assert_eq!(
                ours(key, message, signature, backend),
                verdict,
                "{backend}: key {key:02x?}, signature {signature:02x?}"
            );
        }
        verdict
    }

    fn signed(seed: u8, message: &[u8]) -> ([u8; 32], Vec<u8>) {
        let key = SigningKey::from_bytes(&[seed; 32]);
        (key.verifying_key().to_bytes(), key.sign(message).to_bytes().to_vec())
    }

    #[test]
    fn tf_02_agrees_with_ed25519_dalek_on_a_valid_signature_and_on_every_single_bit_flip() {
        let message = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9";
        let (key, signature) = signed(7, message);
        assert_eq!(agree(&key, message, &signature), Some(true));
        for bit in 0..signature.len() * 8 {
            let mut forged = signature.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(agree(&key, message, &forged), Some(false), "bit {bit}");
        }
        for bit in 0..message.len() * 8 {
            let mut altered = message.to_vec();
            altered[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(agree(&key, &altered, &signature), Some(false), "message bit {bit}");
        }
    }

    #[test]
    fn agrees_with_ed25519_dalek_on_another_keys_signature_and_on_wrong_lengths() {
        let (key, _) = signed(1, b"m");
        let (_, other) = signed(2, b"m");
        assert_eq!(agree(&key, b"m", &other), Some(false));
        let (_, good) = signed(1, b"m");
        for len in [0, 31, 32, 63, 65] {
            let mut signature = good.clone();
            signature.resize(len, 0);
            assert_eq!(agree(&key, b"m", &signature), Some(false), "length {len}");
        }
    }

    #[test]
    fn agrees_with_ed25519_dalek_that_a_non_canonical_s_is_refused() {
        let (key, signature) = signed(3, b"m");
        // s + ℓ is the same scalar, encoded non-canonically: RFC 8032 refuses it.
        let s = Scalar::from_canonical_bytes(signature[32..].try_into().unwrap_or_default());
        let s = Option::<Scalar>::from(s).map(|s| s.to_bytes()).unwrap_or_default();
        // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let (mut sum, mut carry) = ([0u8; 32], 0u16);
        for i in 0..32 {
            let total = u16::from(s[i]) + u16::from(l[i]) + carry;
            sum[i] = total as u8;
            carry = total >> 8;
        }
        assert_eq!(carry, 0, "s + ℓ fits in 32 bytes");
        let mut malleated = signature.clone();
        malleated[32..].copy_from_slice(&sum);
        assert_eq!(agree(&key, b"m", &signature), Some(true));
        assert_eq!(agree(&key, b"m", &malleated), Some(false));
    }

    #[test]
    fn agrees_with_ed25519_dalek_that_a_small_order_key_verifies_nothing() {
        // A and R of small order, s = 0: the lax check accepts some of these
        // (so the case is real); the strict verdict refuses every one.
        let mut lax_accepted = 0;
        for a in EIGHT_TORSION {
            let key = a.compress().to_bytes();
            for r in EIGHT_TORSION {
                let mut signature = r.compress().to_bytes().to_vec();
                signature.extend_from_slice(&[0u8; 32]);
                for message in [&b"m"[..], b""] {
                    assert_eq!(agree(&key, message, &signature), Some(false));
                    lax_accepted += usize::from(lax(&key, message, &signature) == Some(true));
                }
            }
        }
        assert!(lax_accepted > 0, "some small-order inputs pass the lax check");
    }

    #[test]
    fn agrees_with_ed25519_dalek_that_a_small_order_r_is_refused_even_when_the_equation_holds() {
        // With a known secret scalar a, A = [a]B and R the identity, s = k·a
        // makes [s]B − [k]A = R: a signature the cofactorless equation accepts.
        let a = Scalar::from_hash(Sha512::new().chain_update(b"a known secret scalar"));
        let key = EdwardsPoint::mul_base(&a).compress().to_bytes();
        // The identity also as "negative zero" (sign bit set) and as y = p + 1:
        // encodings that decompress but that no computed R' ever takes.
        let mut negative_zero = EdwardsPoint::identity().compress().to_bytes();
        negative_zero[31] |= 0x80;
        let mut p_plus_one = [0xffu8; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        let encodings = EIGHT_TORSION.iter().map(|t| t.compress().to_bytes()).chain([negative_zero, p_plus_one]);
        for r in encodings {
            let k = Scalar::from_hash(Sha512::new().chain_update(r).chain_update(key).chain_update(b"m"));
            let mut signature = r.to_vec();
            signature.extend_from_slice((k * a).as_bytes());
            assert_eq!(agree(&key, b"m", &signature), Some(false), "R {r:02x?}");
            if r == EdwardsPoint::identity().compress().to_bytes() {
                assert_eq!(lax(&key, b"m", &signature), Some(true), "the lax check accepts R = identity");
            }
        }
        // The same construction with an ordinary R verifies, so what failed
        // above was R's order and nothing else.
        let r_scalar = Scalar::from(7u64);
        let r = EdwardsPoint::mul_base(&r_scalar).compress().to_bytes();
        let k = Scalar::from_hash(Sha512::new().chain_update(r).chain_update(key).chain_update(b"m"));
        let mut signature = r.to_vec();
        signature.extend_from_slice((r_scalar + k * a).as_bytes());
        assert_eq!(agree(&key, b"m", &signature), Some(true));
    }

    #[test]
    fn backends_are_named_prepared_and_stock_and_prepared_is_the_default() {
        assert_eq!(Ed25519Backend::default(), Ed25519Backend::Prepared);
        for backend in Ed25519Backend::ALL {
            assert_eq!(backend.to_string().parse::<Ed25519Backend>(), Ok(backend));
        }
        assert_eq!("stock".parse::<Ed25519Backend>(), Ok(Ed25519Backend::Stock));
        assert!("Prepared".parse::<Ed25519Backend>().is_err());
        assert!("dalek".parse::<Ed25519Backend>().is_err());
    }

    /// Σ digits[i]·2^(WINDOW·i), computed as a scalar.
    fn value_of(digits: &[i8; DIGITS]) -> Scalar {
        let radix = Scalar::from(1u64 << WINDOW);
        digits.iter().rev().fold(Scalar::ZERO, |sum, &digit| {
            let magnitude = Scalar::from(u64::from(digit.unsigned_abs()));
            sum * radix + if digit < 0 { -magnitude } else { magnitude }
        })
    }

    #[test]
    fn the_signed_digits_of_a_scalar_add_up_to_it_and_stay_within_a_row() {
        let mut largest = [0xffu8; 32];
        largest[31] = 0x0f; // ℓ − 1 is below this; Scalar keeps values under ℓ
        let scalars = [
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE, // ℓ − 1, the largest scalar
            Scalar::from(u64::MAX),
            Scalar::from_bytes_mod_order(largest),
            Scalar::from_bytes_mod_order([0x20; 32]), // every window near the sign boundary
        ];
        let hashed = (0u32..500).map(|i| Scalar::from_hash(Sha512::new().chain_update(i.to_le_bytes())));
        for scalar in scalars.into_iter().chain(hashed) {
            let digits = signed_digits(&scalar);
            assert!(digits.iter().all(|d| (-(ENTRIES as i16)..ENTRIES as i16).contains(&i16::from(*d))), "{digits:?}");
            assert_eq!(value_of(&digits), scalar);
        }
    }

    proptest! {
        #[test]
        fn agrees_with_ed25519_dalek_on_random_keys_messages_and_damage(
            seed in any::<[u8; 32]>(),
            message in proptest::collection::vec(any::<u8>(), 0..600),
            index in any::<prop::sample::Index>(),
            xor in 1u8..=255,
            garbage in proptest::collection::vec(any::<u8>(), 64),
        ) {
            let signing = SigningKey::from_bytes(&seed);
            let key = signing.verifying_key().to_bytes();
            let signature = signing.sign(&message).to_bytes();
            prop_assert_eq!(agree(&key, &message, &signature), Some(true));
            let mut damaged = signature;
            damaged[index.index(64)] ^= xor;
            prop_assert_eq!(agree(&key, &message, &damaged), Some(false));
            prop_assert_eq!(agree(&key, &message, &garbage), Some(false));
        }
    }
}
