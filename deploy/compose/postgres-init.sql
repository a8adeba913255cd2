-- The resource services' database, apart from the auth services' (each
-- service migrates its own).
CREATE DATABASE authpair_resource OWNER authpair;
