//! Token introspection (RFC 7662), for the gRPC method and the HTTP endpoint
//! alike: the verdict comes from this instance's memory, its verifier and its
//! denylist, with no database round trip. A token this deployment would
//! refuse, for whatever reason, is simply inactive: the reason is not told,
//! and nothing is logged or counted as a failed login.

use std::sync::Arc;

use authpair_claims::Claims;
use authpair_proto::auth::v1::{Actor, Confirmation, IntrospectResponse};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::state::AuthState;

/// How a token is presented (RFC 6749 §7.1), as the token responses say.
const TOKEN_TYPE: &str = "Bearer";

/// The claims of `token` if it is active now: it verifies (signature by a
/// published key, type, lifetime with leeway, issuer, an audience the
/// deployment issues for) and is not revoked.
pub fn active_claims(state: &AuthState, token: &str) -> Option<Arc<Claims>> {
    let claims = state.verifier.verify(token).ok()?;
    state.denylist.check(&claims).ok()?;
    Some(claims)
}

/// The gRPC answer: every member set when active, none otherwise.
pub fn to_proto(claims: Option<&Claims>) -> IntrospectResponse {
    let Some(c) = claims else { return IntrospectResponse::default() };
    IntrospectResponse {
        active: true,
        sub: c.subject().to_owned(),
        aud: c.audiences().to_vec(),
        scope: c.scopes().join(" "),
        roles: c.roles().to_vec(),
        plan: c.plan().to_owned(),
        exp: c.expires_at() as i64,
        iat: c.issued_at() as i64,
        client_id: c.client_id().to_owned(),
        token_type: TOKEN_TYPE.into(),
        username: c.username().to_owned(),
        iss: c.issuer().to_owned(),
        cnf: c.bound_certificate().map(|thumbprint| Confirmation { x5t_s256: URL_SAFE_NO_PAD.encode(thumbprint) }),
        act: c.actors().iter().rev().fold(None, |act, sub| Some(Actor { sub: sub.clone(), act: act.map(Box::new) })),
    }
}

/// The HTTP answer (RFC 7662 §2.2): `{"active": false}` alone when inactive;
/// a bound token's `cnf` as RFC 8705 §3.2 writes it, an exchanged token's
/// `act` as RFC 8693 §4.1 does.
pub fn to_json(claims: Option<&Claims>) -> Value {
    let Some(c) = claims else { return json!({ "active": false }) };
    let mut answer = json!({
        "active": true,
        "sub": c.subject(),
        "aud": c.audiences(),
        "scope": c.scopes().join(" "),
        "roles": c.roles(),
        "plan": c.plan(),
        "exp": c.expires_at(),
        "iat": c.issued_at(),
        "client_id": c.client_id(),
        "token_type": TOKEN_TYPE,
        "username": c.username(),
        "iss": c.issuer(),
    });
    if let Some(thumbprint) = c.bound_certificate() {
        answer["cnf"] = json!({ "x5t#S256": URL_SAFE_NO_PAD.encode(thumbprint) });
    }
    // RFC 8693 §4.1's nesting, the current actor outermost.
    if let Some(act) = c.actors().iter().rev().fold(None, |act: Option<Value>, sub| {
        let mut actor = json!({ "sub": sub });
        if let Some(act) = act {
            actor["act"] = act;
        }
        Some(actor)
    }) {
        answer["act"] = act;
    }
    answer
}
