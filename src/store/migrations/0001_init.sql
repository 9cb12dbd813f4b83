-- uma-cedar schema, version 1.
-- Secrets (client secrets, tokens, codes, tickets, sessions) are stored as SHA-256 hashes, never in clear.
-- Times are Unix seconds.

-- Owner identifiers are what a PAT names: a local username or a client id. One namespace for both,
-- so an owner identifier can never name two parties.
CREATE TABLE principals (
    id   TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'client'))
) STRICT;

CREATE TABLE users (
    username      TEXT PRIMARY KEY REFERENCES principals(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    email         TEXT,
    name          TEXT,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE clients (
    client_id            TEXT PRIMARY KEY REFERENCES principals(id) ON DELETE CASCADE,
    -- NULL for a public client (token_endpoint_auth_method 'none').
    secret_hash          TEXT,
    auth_method          TEXT NOT NULL
        CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    client_name          TEXT,
    redirect_uris        TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    claims_redirect_uris TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    grant_types          TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    -- Everything else a dynamic registration sent, kept to be returned (JSON object).
    metadata             TEXT NOT NULL DEFAULT '{}',
    created_at           INTEGER NOT NULL
) STRICT;

-- A grant is what one consent (authorization code) or one client-credentials request authorized.
-- Tokens belong to a grant; revoking the grant revokes every token issued under it.
CREATE TABLE grants (
    id           INTEGER PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    -- The resource owner: a username (subject_kind 'user') or the client itself ('client').
    subject      TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('user', 'client')),
    scope        TEXT NOT NULL,
    auth_time    INTEGER,
    nonce        TEXT,
    revoked      INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX grants_subject ON grants(subject);

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    grant_id   INTEGER NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- Refresh tokens are single use: set when rotated. Presenting a used one revokes the grant.
    used       INTEGER NOT NULL DEFAULT 0,
    revoked    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX tokens_grant ON tokens(grant_id);
CREATE INDEX tokens_expiry ON tokens(expires_at);

CREATE TABLE auth_codes (
    hash                  TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    username              TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    -- Whether the authorization request named redirect_uri; if so the token request must repeat it
    -- (RFC 6749 §4.1.3).
    redirect_uri_sent     INTEGER NOT NULL DEFAULT 1,
    scope                 TEXT NOT NULL,
    code_challenge        TEXT,
    nonce                 TEXT,
    auth_time             INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    -- Set when the code is redeemed; a second redemption revokes this grant.
    grant_id              INTEGER REFERENCES grants(id) ON DELETE SET NULL,
    used                  INTEGER NOT NULL DEFAULT 0
) STRICT;

-- A pending authorization request at the authorization endpoint (between the redirect and the consent).
CREATE TABLE auth_requests (
    id_hash     TEXT PRIMARY KEY,
    csrf_hash   TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    params      TEXT NOT NULL,   -- JSON object of the validated request
    expires_at  INTEGER NOT NULL
) STRICT;

-- Browser sessions of local users at the login page.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    auth_time  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- Resources registered by a resource server (client_id) for an owner.
CREATE TABLE resources (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    description TEXT NOT NULL,   -- JSON object, without _id
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX resources_owner_client ON resources(owner, client_id);

-- Permission tickets (Federated Authorization §4).
CREATE TABLE tickets (
    hash        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    permissions TEXT NOT NULL,   -- JSON array of {resource_id, resource_scopes}
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0,
    -- A ticket rotated by the UMA grant (need_info, request_submitted) may only be presented by the client that
    -- presented its predecessor (UMA Grant §5.4); NULL for a ticket fresh from the permission endpoint.
    bound_client TEXT REFERENCES clients(client_id) ON DELETE CASCADE,
    -- The RPT issued from this ticket: a replay of the ticket revokes it.
    rpt_jti     TEXT
) STRICT;
CREATE INDEX tickets_expiry ON tickets(expires_at);

-- Persisted claims tokens (UMA Grant §3.3.5): claims held by reference for one client and requesting party.
CREATE TABLE pcts (
    hash        TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    -- The requesting party: the verified claim token's issuer and subject.
    party       TEXT NOT NULL,
    claims      TEXT NOT NULL,   -- JSON object of verified claims
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Requesting party tokens (UMA Grant §3.3.5). The RPT itself is a signed JWT; this row is what introspection,
-- revocation, upgrade and policy narrowing work on.
CREATE TABLE rpts (
    jti             TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    party           TEXT NOT NULL,
    owner           TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    resource_server TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    permissions     TEXT NOT NULL,   -- JSON array of {resource_id, resource_scopes, exp}
    claims          TEXT NOT NULL,   -- JSON object of the verified claims the decision used
    issued_at       INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked         INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX rpts_owner ON rpts(owner, expires_at);

-- Every decision of the UMA grant, for the owner to review.
CREATE TABLE decisions (
    id          INTEGER PRIMARY KEY,
    time        INTEGER NOT NULL,
    owner       TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    party       TEXT,            -- NULL when no claims identified the requesting party
    resource_id TEXT NOT NULL,
    scopes      TEXT NOT NULL,   -- JSON array: the scopes requested
    granted     TEXT NOT NULL,   -- JSON array: the scopes granted
    answer      TEXT NOT NULL,   -- permit, need_info, request_denied
    policies    TEXT NOT NULL,   -- JSON array of the policies that decided
    detail      TEXT             -- claims needed, or evaluation errors
) STRICT;
CREATE INDEX decisions_owner_time ON decisions(owner, time DESC);

-- Signing keys. A retired key stays published in the JWKS until `publish_until`.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    private_pem   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER,
    publish_until INTEGER
) STRICT;
