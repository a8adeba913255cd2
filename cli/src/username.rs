//! Whether a new username is taken, judged before the new user's password
//! is asked for (twice), so a taken name fails at once.
//!
//! The auth service compares usernames by their RFC 8265 UsernameCaseMapped
//! form, and refuses a new name whose UTS #39 confusable skeleton is an
//! existing account's. The same two forms are computed here, by the same
//! crate (`authpair_username`), for the new name and for each listed user.
//! This check only saves a prompt: CreateUser still decides, so a name this
//! check cannot put in canonical form (the service will say why) is left for
//! it.

/// A name's canonical form and its confusable skeleton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    pub canonical: String,
    pub skeleton: String,
}

impl Compared {
    /// None for a name without a canonical form.
    pub fn of(typed: &str) -> Option<Self> {
        let canonical = authpair_username::canonical(typed).ok()?;
        let skeleton = authpair_username::skeleton(&canonical);
        Some(Self { canonical, skeleton })
    }
}

/// Why `new` cannot be created beside the existing `listed` usernames, if
/// one of them is the same account or looks like it.
pub fn taken<'a>(new: &str, listed: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let new_form = Compared::of(new)?;
    let mut alike = None;
    for existing in listed {
        let Some(form) = Compared::of(existing) else { continue };
        if form.canonical == new_form.canonical {
            return Some(format!("username already exists: {new:?} is the user {existing:?}"));
        }
        if form.skeleton == new_form.skeleton && alike.is_none() {
            alike = Some(format!("username looks like the existing username {existing:?} (UTS #39 confusables)"));
        }
    }
    alike
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_width_variants_are_the_same_user() {
        for typed in ["root", "ROOT", "Root", "\u{FF52}\u{FF4F}\u{FF4F}\u{FF54}"] {
            assert_eq!(
                taken(typed, ["alice", "root"]),
                Some(format!("username already exists: {typed:?} is the user \"root\"")),
                "{typed}"
            );
        }
        assert_eq!(taken("ΣΑΣ", ["σας"]), Some("username already exists: \"ΣΑΣ\" is the user \"σας\"".into()));
    }

    #[test]
    fn a_lookalike_of_an_existing_name_is_refused_too() {
        // A Cyrillic `а`.
        assert_eq!(
            taken("\u{430}dmin", ["admin"]),
            Some("username looks like the existing username \"admin\" (UTS #39 confusables)".into())
        );
    }

    #[test]
    fn a_new_name_or_one_without_a_canonical_form_is_left_to_the_service() {
        assert_eq!(taken("alice", ["root", "bob"]), None);
        assert_eq!(taken("two  spaces", ["root"]), None);
        assert_eq!(taken("", ["root"]), None);
    }
}
