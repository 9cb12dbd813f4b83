-- uma-cedar schema: what operators need.

-- The request whose UMA grant (or owner's decision) made a decision: the `X-Request-Id` the server echoed and
-- wrote on that request's access log line. NULL for decisions made before this column, or outside a request.
ALTER TABLE decisions ADD COLUMN http_request_id TEXT;

-- One row, rewritten by each readiness check (`GET /readyz`): a real write through the writer, so a database
-- that cannot commit (read-only, full disk) takes the server out of a load balancer.
CREATE TABLE readiness (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL
) STRICT;
