-- Failed credential checks per account as typed (`user:<name>`,
-- `client:<id>`), so the throttle's delays and locks survive a restart
-- (security matrix R-01). A row exists only while its failures are inside
-- the failure window; housekeeping deletes older ones, and a success deletes
-- the account's row.
CREATE TABLE login_failures (
    account            TEXT PRIMARY KEY,
    failures           BIGINT NOT NULL,
    last_failed_ms     BIGINT NOT NULL
);
CREATE INDEX login_failures_by_time ON login_failures (last_failed_ms);
