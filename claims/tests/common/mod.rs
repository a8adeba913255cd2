//! What the integration tests of this crate share.

use authpair_claims::Grant;

/// A grant for `subject`: no roles or scopes, plan free.
pub fn grant(subject: &str) -> Grant {
    Grant {
        subject: subject.into(),
        username: "u".into(),
        client_id: "c".into(),
        roles: vec![],
        scopes: vec![],
        plan: "free".into(),
        generation: 0,
        audience: "a".into(),
        certificate: None,
        actors: Vec::new(),
        not_after: None,
    }
}
