-- PostgreSQL twin of ../sqlite/0002. `seq` is an identity column; writers
-- append under an advisory lock (see authpair_claims::db), so entries commit
-- in sequence order and the log head is always the highest committed seq.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed TEXT;

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    private_key_pem TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    signs_from      BIGINT NOT NULL,
    retired_at      BIGINT,
    unpublish_at    BIGINT
);

CREATE TABLE revocations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('token', 'subject')),
    subject    TEXT NOT NULL,
    token_id   TEXT,
    expires_at BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);
