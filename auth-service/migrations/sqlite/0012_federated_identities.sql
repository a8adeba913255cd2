-- Identities from trusted external issuers (--federation), each the
-- service account its tokens log in as: an issuer's subject maps to one
-- account.
CREATE TABLE federated_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    account    TEXT NOT NULL REFERENCES service_accounts (name) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX federated_identities_account ON federated_identities (account);
