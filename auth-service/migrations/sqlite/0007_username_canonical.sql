-- Each username's canonical form (RFC 8265 UsernameCaseMapped: width
-- mapping, lower case, NFC), which decides who is who: unique, and what a
-- login or an admin reference by name looks up. `username` keeps the name as
-- typed, for display. Computing the form needs Unicode tables the database
-- does not have, so the column starts NULL and the service fills it for rows
-- where it is NULL when it starts (refusing to start, and merging nothing,
-- if two names have one form). A unique index lets any number of NULLs in.
ALTER TABLE users ADD COLUMN username_canonical TEXT;
CREATE UNIQUE INDEX users_username_canonical ON users (username_canonical);
