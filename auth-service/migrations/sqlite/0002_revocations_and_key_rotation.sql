-- For the optional refresh grace window: the successor of a consumed token,
-- sealed so that only a holder of the consumed token can recover it.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed TEXT;

-- Signing keys. A key is published from created_at, signs from signs_from,
-- and leaves the JWK set at unpublish_at (after its last token expired).
CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    private_key_pem TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    signs_from      BIGINT NOT NULL,
    retired_at      BIGINT,
    unpublish_at    BIGINT
);

-- The revocation log the feed serves. `seq` only grows, and doubles as the
-- generation stamped on tokens (`gen`): a subject entry revokes that
-- subject's tokens with a lower `gen`. An entry can be pruned once no token
-- it names can still be live (expires_at).
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('token', 'subject')),
    subject    TEXT NOT NULL,
    token_id   TEXT,
    expires_at BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);
