//! Usernames in one canonical form, so no name can pass for another.
//!
//! Accounts are compared, stored uniquely and looked up by the form that
//! RFC 8265's UsernameCaseMapped profile gives: full-width characters mapped
//! to their ordinary width, upper case mapped to lower, then Unicode NFC. So
//! `Admin`, `ADMIN` and full-width `ａｄｍｉｎ` are all `admin`, and `café`
//! typed precomposed or with a combining accent is one name. Code points the
//! profile disallows (spaces inside a part, symbols, invisible formatting and
//! text-direction controls, unassigned code points) make a name that no new
//! account may have. As RFC 8265 §3.1 allows, a name may be several parts
//! separated by single spaces; each part is enforced on its own.
//!
//! Case mapping is Unicode's full lower-casing of the string, as RFC 8265
//! asks, so a capital sigma at the end of a word becomes final sigma: `ΣΑΣ`
//! is `σας`, the name as a Greek reader writes it.
//!
//! The name as typed is kept for display; only the canonical form decides
//! who is who.
//!
//! Beyond RFC 8265, a new name must not pass for another one: its UTS #39
//! confusable skeleton ([`skeleton`]) must be no other account's (`аdmin`
//! with a Cyrillic `а`, `admın` with a dotless `ı` and `admin` have one
//! skeleton), and it must be written in one script, Latin combined with
//! Chinese, Japanese or Korean scripts excepted (UTS #39's highly
//! restrictive level, [`scripts`]).
//!
//! A crate of its own so the auth service, which decides, and the admin CLI,
//! which checks a new name before it asks for a password, apply one rule.

use precis_profiles::{
    UsernameCaseMapped,
    precis_core::{CodepointInfo, Error as PrecisError, UnexpectedError, profile::PrecisFastInvocation},
};
use unicode_script::{Script, UnicodeScript as _};
use unicode_security::mixed_script::AugmentedScriptSet;

/// Invisible characters that change how text around them reads: zero-width
/// spaces and joiners, left-to-right and right-to-left marks, embeddings,
/// overrides and isolates, and the byte-order mark. A name holding one can
/// look exactly like another name. Refused outright, even where the profile
/// would allow a joiner in context.
fn is_invisible_or_direction_control(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Why a name has no canonical form; the text is the client's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unenforceable {
    #[error("username must not contain invisible or text-direction characters (found U+{0:04X})")]
    InvisibleOrDirection(u32),
    #[error("username must not contain U+{0:04X}: usernames are letters, digits and ASCII symbols (RFC 8265)")]
    Disallowed(u32),
    #[error("username must not start or end with a space, or hold two spaces in a row")]
    EmptyPart,
    #[error("username mixes right-to-left and left-to-right text in a way RFC 8265 does not allow")]
    Direction,
}

impl Unenforceable {
    fn from_precis(error: PrecisError) -> Self {
        match error {
            PrecisError::BadCodepoint(CodepointInfo { cp, .. })
            | PrecisError::Unexpected(
                UnexpectedError::ContextRuleNotApplicable(CodepointInfo { cp, .. })
                | UnexpectedError::MissingContextRule(CodepointInfo { cp, .. }),
            ) => Self::Disallowed(cp),
            // An empty part is caught before the profile runs; what is left
            // is the bidi rule, the profile's only other refusal.
            PrecisError::Invalid | PrecisError::Unexpected(_) => Self::Direction,
        }
    }
}

/// The canonical form of `typed`: each space-separated part enforced with
/// UsernameCaseMapped, joined again by single spaces.
pub fn canonical(typed: &str) -> Result<String, Unenforceable> {
    if let Some(c) = typed.chars().find(|c| is_invisible_or_direction_control(*c)) {
        return Err(Unenforceable::InvisibleOrDirection(u32::from(c)));
    }
    let mut parts = Vec::new();
    for part in typed.split(' ') {
        if part.is_empty() {
            return Err(Unenforceable::EmptyPart);
        }
        let mapped = UsernameCaseMapped::enforce(part).map_err(Unenforceable::from_precis)?;
        // The profile lower-cases one code point at a time, which maps a
        // final capital sigma to `σ`, not `ς`. Final_Sigma, the one
        // context-dependent rule of Unicode's toLowerCase, is what
        // `str::to_lowercase` adds: the part, checked above as typed (so a
        // refusal names the code point the client sent), is mapped again
        // from its lower-cased text.
        let mapped = if part.contains('\u{3A3}') {
            UsernameCaseMapped::enforce(part.to_lowercase()).map_err(Unenforceable::from_precis)?.into_owned()
        } else {
            mapped.into_owned()
        };
        parts.push(mapped);
    }
    Ok(parts.join(" "))
}

/// The UTS #39 confusable skeleton of a canonical name: two names with one
/// skeleton look alike (`аdmin` with a Cyrillic `а`, `rοot` with a Greek
/// `ο`, `admın` with a dotless `ı` are `admin` and `root`). Not for display:
/// only compared, and stored unique so that no two accounts look alike.
pub fn skeleton(canonical: &str) -> String {
    unicode_security::skeleton(canonical).collect()
}

/// A name written in more than one script, which UTS #39's highly
/// restrictive level refuses: the scripts it mixes, in order of appearance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixedScripts(pub Vec<&'static str>);

impl std::fmt::Display for MixedScripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "username mixes scripts ({}): a username is written in one script, or in Latin with Chinese, Japanese \
             or Korean (UTS #39, highly restrictive)",
            self.0.join(", ")
        )
    }
}

/// Whether `name` passes UTS #39's highly restrictive level as far as
/// scripts go: every character shares one script (digits, punctuation and
/// combining marks go with any), or, Latin set aside, the rest is Chinese,
/// Japanese or Korean. The level's other condition, the identifier profile,
/// is RFC 8265's here ([`canonical`]).
pub fn scripts(name: &str) -> Result<(), MixedScripts> {
    let mut all = AugmentedScriptSet::default();
    let mut not_latin = AugmentedScriptSet::default();
    for c in name.chars() {
        let set = AugmentedScriptSet::for_char(c);
        all.intersect_with(set);
        if !set.base.contains_script(Script::Latin) {
            not_latin.intersect_with(set);
        }
    }
    if !all.is_empty() || not_latin.hanb || not_latin.jpan || not_latin.kore {
        return Ok(());
    }
    let mut seen: Vec<&'static str> = Vec::new();
    for c in name.chars() {
        let script = c.script();
        if !matches!(script, Script::Common | Script::Inherited | Script::Unknown)
            && !seen.contains(&script.full_name())
        {
            seen.push(script.full_name());
        }
    }
    Err(MixedScripts(seen))
}

/// What a name typed at login (or in an admin reference) is looked up by:
/// its canonical form, or, when it has none, the text as typed. No account
/// created through the API has a name without a canonical form, so such a
/// lookup finds nobody and the caller goes down the unknown-user path, with
/// the same query and the same password-hash check as for any unknown name.
/// It can only find an account stored before usernames were canonical whose
/// name has no canonical form: the startup fill keys those by their exact
/// name, so they keep logging in as before.
pub fn lookup_key(typed: &str) -> String {
    canonical(typed).unwrap_or_else(|_| typed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(typed: &str) -> String {
        canonical(typed).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn case_and_width_variants_of_a_name_are_that_name() {
        for typed in ["admin", "Admin", "ADMIN", "ａｄｍｉｎ", "ＡＤＭＩＮ"] {
            assert_eq!(canonical(typed), Ok("admin".to_owned()), "{typed:?}");
        }
    }

    #[test]
    fn precomposed_and_decomposed_accents_are_one_name() {
        assert_eq!(canonical("caf\u{E9}"), canonical("cafe\u{301}"));
        assert_eq!(canonical("Cafe\u{301}"), Ok("caf\u{E9}".to_owned()));
    }

    #[test]
    fn invisible_and_direction_characters_are_refused_by_name() {
        assert_eq!(
            message("ad\u{200B}min"),
            "username must not contain invisible or text-direction characters (found U+200B)"
        );
        assert_eq!(
            message("\u{202E}nimda"),
            "username must not contain invisible or text-direction characters (found U+202E)"
        );
        for c in ['\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{FEFF}'] {
            assert_eq!(canonical(&format!("a{c}b")), Err(Unenforceable::InvisibleOrDirection(u32::from(c))));
        }
    }

    #[test]
    fn code_points_the_profile_disallows_are_refused_by_code_point() {
        assert_eq!(
            message("snow\u{2603}man"),
            "username must not contain U+2603: usernames are letters, digits and ASCII symbols (RFC 8265)"
        );
        assert_eq!(canonical("a\u{A0}b"), Err(Unenforceable::Disallowed(0xA0)));
        assert_eq!(canonical("a\u{3000}b"), Err(Unenforceable::Disallowed(0x20)));
    }

    #[test]
    fn names_may_be_parts_separated_by_single_spaces() {
        assert_eq!(canonical("Bøb \"Quoted\""), Ok("bøb \"quoted\"".to_owned()));
        assert_eq!(message("a  b"), "username must not start or end with a space, or hold two spaces in a row");
        assert_eq!(canonical(" a"), Err(Unenforceable::EmptyPart));
    }

    #[test]
    fn right_to_left_names_are_kept_when_the_bidi_rule_allows_them() {
        assert!(canonical("\u{5E9}\u{5DC}\u{5D5}\u{5DD}").is_ok(), "Hebrew");
        assert_eq!(canonical("\u{5E9}a"), Err(Unenforceable::Direction));
    }

    #[test]
    fn a_capital_sigma_at_the_end_of_a_word_becomes_final_sigma() {
        for typed in ["ΣΑΣ", "Σας", "σας"] {
            assert_eq!(canonical(typed), Ok("σας".to_owned()), "{typed:?}");
        }
        assert_eq!(canonical("ΣΑΣ ΣΑΣ"), Ok("σας σας".to_owned()), "each part ends a word");
        assert_eq!(canonical("ΣΟΦΙΑ"), Ok("σοφια".to_owned()), "not at the end: σ");
        assert_eq!(canonical("Σ"), Ok("σ".to_owned()), "alone, not final");
    }

    #[test]
    fn look_alikes_from_other_scripts_have_the_skeleton_of_the_name_they_imitate() {
        let admin = skeleton("admin");
        for typed in ["\u{430}dmin", "adm\u{131}n", "ADM\u{131}N"] {
            assert_eq!(canonical(typed).map(|c| skeleton(&c)), Ok(admin.clone()), "{typed:?}");
        }
        assert_eq!(skeleton(&canonical("r\u{3BF}ot").unwrap_or_default()), skeleton("root"));
        assert_eq!(skeleton("\u{430}\u{441}\u{435}"), skeleton("ace"), "all Cyrillic");
        assert_ne!(skeleton("admin"), skeleton("admins"));
        assert_ne!(skeleton("alice"), skeleton("bob"));
    }

    #[test]
    fn a_name_in_one_script_or_latin_with_chinese_japanese_or_korean_passes_the_script_check() {
        for name in [
            "admin",
            "bøb \"quoted\"",
            "σας",
            "\u{430}\u{441}\u{435}",
            "田中",
            "たなか田中",
            "tanaka田中",
            "김철수",
            "jo-2",
        ] {
            assert_eq!(scripts(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn a_name_mixing_scripts_is_refused_naming_them() {
        assert_eq!(scripts("\u{430}dmin"), Err(MixedScripts(vec!["Cyrillic", "Latin"])));
        assert_eq!(scripts("r\u{3BF}ot"), Err(MixedScripts(vec!["Latin", "Greek"])));
        assert_eq!(scripts("\u{5E9}\u{5DC}\u{5D5}\u{5DD}\u{3C3}"), Err(MixedScripts(vec!["Hebrew", "Greek"])));
        assert_eq!(
            MixedScripts(vec!["Cyrillic", "Latin"]).to_string(),
            "username mixes scripts (Cyrillic, Latin): a username is written in one script, or in Latin with \
             Chinese, Japanese or Korean (UTS #39, highly restrictive)"
        );
    }

    #[test]
    fn a_name_without_a_canonical_form_is_looked_up_as_typed() {
        assert_eq!(lookup_key("ADMIN"), "admin");
        assert_eq!(lookup_key("\u{202E}nimda"), "\u{202E}nimda");
    }
}
