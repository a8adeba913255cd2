-- PostgreSQL twin of ../sqlite/0003.
CREATE TABLE service_accounts (
    name               TEXT COLLATE "C" PRIMARY KEY,
    secret_hash        TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    plan               TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);
