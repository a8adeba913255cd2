-- PostgreSQL twin of ../sqlite/0009: each username's UTS #39 confusable
-- skeleton, unique, filled by the service at start for rows where it is
-- NULL; compared byte for byte ("C"), as in SQLite. Names holding a capital
-- sigma get their canonical form recomputed (Final_Sigma).
ALTER TABLE users ADD COLUMN username_skeleton TEXT COLLATE "C";
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
UPDATE users SET username_canonical = NULL WHERE username LIKE '%Σ%';
