-- Service accounts (OAuth client credentials). The name is the client id;
-- tokens carry sub "svc:<name>". The secret is stored only as SHA-256: it is
-- 256 random bits, so a fast hash is as strong as a slow one here.
CREATE TABLE service_accounts (
    name               TEXT PRIMARY KEY,
    secret_hash        TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    plan               TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);
