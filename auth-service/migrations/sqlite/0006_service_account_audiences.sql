-- The audiences a service account's tokens may be for, space separated.
-- '' is the deployment's default audience alone: all that accounts created
-- before this column could get.
ALTER TABLE service_accounts ADD COLUMN audiences TEXT NOT NULL DEFAULT '';
