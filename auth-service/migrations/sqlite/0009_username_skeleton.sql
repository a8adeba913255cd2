-- Each username's UTS #39 confusable skeleton (of its canonical form), which
-- no two accounts share, so no new name looks like an existing one (`аdmin`
-- with a Cyrillic а and `admin`). Computed by the service, like the
-- canonical form: NULL at first, filled at start for rows where it is NULL.
-- Of existing names that share a skeleton, the oldest holds it and the
-- others stay NULL (logged at each start): they keep working, and the held
-- skeleton still refuses new look-alikes.
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
-- Canonical forms are now lower-cased with Unicode's Final_Sigma rule, which
-- changes only names holding a capital sigma (U+03A3): recomputed at start.
UPDATE users SET username_canonical = NULL WHERE username LIKE '%Σ%';
