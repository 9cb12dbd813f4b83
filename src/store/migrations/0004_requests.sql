-- uma-cedar schema, version 4: requests held for the owner's decision (`@ask` policies, UMA Grant §3.3.6).

-- One row per held request: what one requesting party asked of one resource, until the owner decides or it
-- expires. `party` is the party's id (`["<iss>","<sub>"]`) and `claims` the verified claims it was held with,
-- so a poll is decided on the same claims whatever the client presents.
CREATE TABLE access_requests (
    id              TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    resource_server TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    party           TEXT NOT NULL,
    claims          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
    decided_at      INTEGER
) STRICT;

CREATE INDEX access_requests_by_owner ON access_requests (owner, created_at);
CREATE INDEX access_requests_by_party ON access_requests (owner, resource_id, party);

-- The tickets handed out for held requests (by hash), and when: a poll sooner than the interval after that is
-- told to slow down.
CREATE TABLE access_request_tickets (
    ticket_hash TEXT NOT NULL,
    request_id  TEXT NOT NULL REFERENCES access_requests(id) ON DELETE CASCADE,
    issued_at   INTEGER NOT NULL,
    PRIMARY KEY (ticket_hash, request_id)
) STRICT;
