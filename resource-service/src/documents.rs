//! The document handlers' rules: input limits, ownership, pagination.
//!
//! Existence rule, the same for every caller and method: a missing id is
//! NOT_FOUND, someone else's document is PERMISSION_DENIED (NOT_OWNER). So a
//! non-owner can learn that an id exists, but ids are random 122-bit UUIDs,
//! handed out only to the owner: they cannot be guessed or enumerated, and
//! ListDocuments and Search never show a non-admin anyone else's.

use authpair_claims::{ADMIN_ROLE, ApiError, Claims, authorize_owner};
use authpair_proto::resource::v1::Document;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::store::{Cursor, DocumentRow, Store};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_QUERY_CHARS: usize = 200;
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 100;
pub const SEARCH_LIMIT: u32 = 50;

pub fn to_proto(doc: DocumentRow) -> Document {
    let ts = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    Document {
        id: doc.id,
        title: doc.title,
        body: doc.body,
        owner: doc.owner,
        created_at: ts(doc.created_at),
        updated_at: ts(doc.updated_at),
    }
}

pub fn title(title: &str) -> Result<&str, ApiError> {
    let chars = title.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS {
        return Err(ApiError::invalid(format!("title must be 1 to {MAX_TITLE_CHARS} characters")));
    }
    if title.chars().any(char::is_control) {
        return Err(ApiError::invalid("title must not contain control characters"));
    }
    Ok(title)
}

/// A body: any text but NUL, which PostgreSQL cannot store, so both
/// backends keep exactly what they accept.
pub fn body(body: &str) -> Result<&str, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::invalid(format!("body must be at most {MAX_BODY_BYTES} bytes")));
    }
    ApiError::refuse_nul("body", body)?;
    Ok(body)
}

/// A search query: 1 to 200 characters, no NUL.
pub fn query(query: &str) -> Result<&str, ApiError> {
    let chars = query.chars().count();
    if chars == 0 || chars > MAX_QUERY_CHARS {
        return Err(ApiError::invalid(format!("query must be 1 to {MAX_QUERY_CHARS} characters")));
    }
    ApiError::refuse_nul("query", query)?;
    Ok(query)
}

pub fn id(id: &str) -> Result<&str, ApiError> {
    if id.is_empty() || id.len() > 64 {
        return Err(ApiError::invalid("id must be 1 to 64 characters"));
    }
    ApiError::refuse_nul("id", id)?;
    Ok(id)
}

/// Whose documents a listing or search covers: everyone's for an admin.
pub fn visible_owner(caller: &Claims) -> Option<&str> {
    if caller.has_role(ADMIN_ROLE) { None } else { Some(caller.subject()) }
}

/// The document, if it exists and the caller may act on it.
pub async fn owned(store: &Store, caller: &Claims, id: &str) -> Result<DocumentRow, ApiError> {
    let doc = store.get(self::id(id)?).await?.ok_or_else(|| ApiError::NotFound("document not found".into()))?;
    authorize_owner(caller, &doc.owner)?;
    Ok(doc)
}

pub fn encode_cursor(doc: &DocumentRow) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", doc.created_at, doc.id))
}

pub fn decode_cursor(token: &str) -> Result<Option<Cursor>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || ApiError::invalid("invalid page_token");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let (time, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok(Some((time.parse().map_err(|_| invalid())?, id.to_owned())))
}
