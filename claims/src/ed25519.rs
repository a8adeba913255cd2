//! Ed25519 verification against a public key prepared once.
//!
//! A service trusts one or two public keys and checks tens of thousands of
//! signatures a second against them. ed25519-dalek's `verify` computes
//! `R' = [s]B − [k]A` with a variable-base double-scalar multiplication that
//! rebuilds a small table for A on every call and runs ~253 doublings.
//! With A fixed, both products can come from tables built once: for a point
//! P, row i of its table holds 1·2^(6i)·P … 32·2^(6i)·P. A scalar recoded
//! into 43 signed base-64 digits then costs 43 table look-ups and additions
//! (a negative digit subtracts), and no doubling at all, so R' is 86
//! additions.
//!
//! Why variable time: every input of a verification is public (the key, the
//! message, the signature), as in ed25519-dalek's own `verify`. The first
//! prepared key (until 2026-11-29) used curve25519-dalek's radix-16
//! `EdwardsBasepointTable`, whose constant-time look-up reads all eight
//! entries of a row for each digit: on an Intel host (BENCHMARKS.md, runs 45–48)
//! those look-ups took 7.6 µs of an 87 µs fresh-token call, and the check
//! as a whole was no faster inside the server than ed25519-dalek's.
//! curve25519-dalek has no variable-time fixed-base multiplication, so this
//! module builds its tables from the crate's public point arithmetic.
//!
//! Only the multiplication changes; the equation and every check are
//! ed25519-dalek 2's `VerifyingKey::verify` (RFC 8032 §5.1.7, cofactorless),
//! step by step: the signature is 64 bytes; `s` must be canonical (< ℓ);
//! k = SHA-512(R ‖ A ‖ M) mod ℓ over the key's bytes as given; accept exactly
//! when the encoding of `[s]B + [k](−A)` equals R's bytes. The group element
//! is the same whichever way it is computed, so the verdict is the same:
//! the `agrees_with_ed25519_dalek_*` tests check that on valid, mutated,
//! forged, non-canonical and small-order inputs.

use std::sync::LazyLock;

use curve25519_dalek::{
    EdwardsPoint, Scalar, constants::ED25519_BASEPOINT_POINT, edwards::CompressedEdwardsY, traits::Identity,
};
use sha2::{Digest, Sha512};

/// Bits per digit. Wider windows mean fewer additions but larger tables,
/// whose look-ups leave the core's caches. In criterion on an Intel host, a
/// check took 0.80 of ed25519-dalek's time with 5 bits, 0.58 with 6 and 0.56
/// with 7 (BENCHMARKS.md, "Runs 45–48"); 6 keeps a table at 215 KiB, not 380.
/// Inside the server on a Zen 3 EPYC (512 KiB of L2), 6 bits beat 5 by
/// 8–20 % and tied 7 (run 53): the additions saved outweigh the cache.
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
    minus_a: FixedBaseTable,
}

impl std::fmt::Debug for PreparedKey {
    /// A public key: its bytes are not secret; the table is just bulk.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedKey").field("bytes", &self.bytes).finish_non_exhaustive()
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
        Some(Self { bytes: *bytes, minus_a: FixedBaseTable::new(&-a) })
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
        let k = Scalar::from_hash(Sha512::new().chain_update(r).chain_update(self.bytes).chain_update(message));
        let expected = BASEPOINT.add_product(EdwardsPoint::identity(), &signed_digits(&s));
        let expected = self.minus_a.add_product(expected, &signed_digits(&k));
        if expected.compress().as_bytes() == r { Ok(()) } else { Err(BadSignature) }
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::{constants::EIGHT_TORSION, scalar::Scalar};
    use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
    use proptest::prelude::*;

    use super::*;

    /// ed25519-dalek's verdict on the same inputs (the reference).
    fn dalek(key: &[u8; 32], message: &[u8], signature: &[u8]) -> Option<bool> {
        let key = VerifyingKey::from_bytes(key).ok()?;
        let signature = ed25519_dalek::Signature::from_slice(signature).ok();
        Some(signature.is_some_and(|sig| key.verify(message, &sig).is_ok()))
    }

    fn ours(key: &[u8; 32], message: &[u8], signature: &[u8]) -> Option<bool> {
        Some(PreparedKey::new(key)?.verify(message, signature).is_ok())
    }

    fn agree(key: &[u8; 32], message: &[u8], signature: &[u8]) -> Option<bool> {
        let verdict = dalek(key, message, signature);
        assert_eq!(ours(key, message, signature), verdict, "key {key:02x?}, signature {signature:02x?}");
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
        assert_eq!(agree(&key, b"m", &malleated), Some(false));
    }

    #[test]
    fn agrees_with_ed25519_dalek_on_small_order_keys_and_signature_points() {
        // The classic edge cases: A and R of small order, s = 0. Whatever the
        // reference decides (cofactorless: some pass), we decide the same.
        let mut verdicts = Vec::new();
        for a in EIGHT_TORSION {
            let key = a.compress().to_bytes();
            for r in EIGHT_TORSION {
                let mut signature = r.compress().to_bytes().to_vec();
                signature.extend_from_slice(&[0u8; 32]);
                verdicts.push(agree(&key, b"m", &signature));
                verdicts.push(agree(&key, b"", &signature));
            }
        }
        // Both verdicts occur, so agreement here means something.
        assert!(verdicts.contains(&Some(true)) && verdicts.contains(&Some(false)), "{verdicts:?}");
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
