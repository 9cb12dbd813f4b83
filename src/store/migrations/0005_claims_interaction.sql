-- uma-cedar schema: the claims interaction endpoint (UMA Grant §3.3.2–§3.3.3).

-- A requesting party's browser visit to the claims interaction endpoint, between its arrival and its answer
-- (continue or cancel). The ticket is named by hash; it is consumed only when the signed-in party answers.
CREATE TABLE claims_interactions (
    id_hash      TEXT PRIMARY KEY,
    csrf_hash    TEXT NOT NULL,
    client_id    TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    ticket_hash  TEXT NOT NULL,
    owner        TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    state        TEXT,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX claims_interactions_expiry ON claims_interactions(expires_at);

-- Claims gathered interactively, bound to the ticket handed back to the client and to that client. They are
-- used when the client presents the ticket at the token endpoint and go when the ticket goes.
CREATE TABLE ticket_claims (
    ticket_hash TEXT PRIMARY KEY REFERENCES tickets(hash) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    claims      TEXT NOT NULL   -- JSON object of verified claims
) STRICT;
