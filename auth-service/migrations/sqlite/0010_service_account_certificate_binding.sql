-- Whether a service account's tokens are bound to the client certificate
-- they are asked for with (RFC 8705): 'optional' (bound when asked for over
-- mTLS), 'required' (only over mTLS) or 'off'. Existing accounts take
-- 'optional': their tokens change only where a client certificate is
-- presented, which then is the one they are accepted over.
ALTER TABLE service_accounts ADD COLUMN certificate_binding TEXT NOT NULL DEFAULT 'optional'
    CHECK (certificate_binding IN ('optional', 'required', 'off'));
