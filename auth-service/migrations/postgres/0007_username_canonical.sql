-- PostgreSQL twin of ../sqlite/0007: each username's canonical form (RFC
-- 8265 UsernameCaseMapped), unique, filled by the service at start for rows
-- where it is NULL; compared byte for byte ("C"), as in SQLite.
ALTER TABLE users ADD COLUMN username_canonical TEXT COLLATE "C";
CREATE UNIQUE INDEX users_username_canonical ON users (username_canonical);
