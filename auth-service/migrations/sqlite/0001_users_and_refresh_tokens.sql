-- Users. `id` is the stable subject (`sub`) of their tokens; `roles` is a
-- space-separated set of role names checked by the service on write.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    plan          TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- One row per login session. Every refresh token belongs to one family;
-- revoking the family ends the session.
CREATE TABLE refresh_families (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);

-- Refresh tokens, stored only as SHA-256 of the token. A consumed token was
-- rotated; presenting it again is reuse.
CREATE TABLE refresh_tokens (
    token_hash      TEXT PRIMARY KEY,
    family_id       TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    issued_at       BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    consumed_at     BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
