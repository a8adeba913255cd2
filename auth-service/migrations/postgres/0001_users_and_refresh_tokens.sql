-- PostgreSQL twin of ../sqlite/0001: the same tables and columns. Text that
-- is ordered or paged on uses the "C" collation, so order is byte order, as
-- in SQLite.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    plan          TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE refresh_families (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    token_hash      TEXT PRIMARY KEY,
    family_id       TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    issued_at       BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    consumed_at     BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
