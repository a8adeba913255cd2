-- The access tokens issued from each session (refresh-token family), by
-- `jti`, kept until they can no longer pass a verifier (`exp` plus leeway).
-- When reuse of a rotated refresh token revokes the family, the tokens
-- still here are logged as revoked (and deleted), so a thief's access token
-- stops working with the session.
CREATE TABLE session_access_tokens (
    token_id   TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX session_access_tokens_family ON session_access_tokens (family_id);
CREATE INDEX session_access_tokens_expiry ON session_access_tokens (expires_at);
