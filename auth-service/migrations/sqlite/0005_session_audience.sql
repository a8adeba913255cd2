-- The audience a session's access tokens are for (`aud`), as asked at Login,
-- so every refresh issues for the same service. '' is the deployment's
-- default audience: what sessions started before this column asked for.
ALTER TABLE refresh_families ADD COLUMN audience TEXT NOT NULL DEFAULT '';
