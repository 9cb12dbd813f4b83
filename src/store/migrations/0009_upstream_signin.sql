-- uma-cedar schema: upstream OpenID Connect sign-in from the claims interaction endpoint.

-- A sign-in at an upstream provider between the "Sign in with" button and the provider's callback, named by the
-- SHA-256 of its `state`. Taken (deleted) by the callback: single use. Rows past `expires_at` are dropped when a
-- new one is stored.
CREATE TABLE upstream_signins (
    state_hash    TEXT PRIMARY KEY,
    visit_id      TEXT NOT NULL,
    csrf_hash     TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX upstream_signins_expiry ON upstream_signins(expires_at);

-- The verified claims of an upstream ID token, kept on the visit until the party continues or cancels.
ALTER TABLE claims_interactions ADD COLUMN upstream_claims TEXT;
