-- PostgreSQL twin of ../sqlite/0004.
CREATE TABLE login_failures (
    account            TEXT COLLATE "C" PRIMARY KEY,
    failures           BIGINT NOT NULL,
    last_failed_ms     BIGINT NOT NULL
);
CREATE INDEX login_failures_by_time ON login_failures (last_failed_ms);
