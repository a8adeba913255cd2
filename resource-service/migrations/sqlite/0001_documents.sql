-- Documents. `owner` is the `sub` of the creator; ownership never changes.
CREATE TABLE documents (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX documents_owner_created ON documents (owner, created_at, id);
CREATE INDEX documents_created ON documents (created_at, id);
