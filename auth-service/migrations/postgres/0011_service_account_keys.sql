-- Public keys a service account authenticates with instead of a secret
-- (RFC 7523 private_key_jwt): the JWK's public members, by key id.
CREATE TABLE service_account_keys (
    account    TEXT NOT NULL REFERENCES service_accounts (name) ON DELETE CASCADE,
    kid        TEXT NOT NULL,
    jwk        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account, kid)
);

-- Client assertions already used, by client and jti, until they could no
-- longer be presented: a replay finds its row, on every instance.
CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expiry ON client_assertions (expires_at);
