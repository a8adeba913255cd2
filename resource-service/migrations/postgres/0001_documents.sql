-- PostgreSQL twin of ../sqlite/0001. Ids page in byte order, as in SQLite.
CREATE TABLE documents (
    id         TEXT COLLATE "C" PRIMARY KEY,
    owner      TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX documents_owner_created ON documents (owner, created_at, id);
CREATE INDEX documents_created ON documents (created_at, id);
