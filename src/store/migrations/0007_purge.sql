-- uma-cedar schema: background purge of expired and spent rows, and the schema a policy set was checked against.
--
-- The purge deletes in small batches, each found through an index on the column it scans; without these
-- indexes every batch would read the whole table.

CREATE INDEX rpts_expiry ON rpts(expires_at);
CREATE INDEX pcts_expiry ON pcts(expires_at);
CREATE INDEX auth_codes_expiry ON auth_codes(expires_at);
CREATE INDEX auth_requests_expiry ON auth_requests(expires_at);
CREATE INDEX sessions_expiry ON sessions(expires_at);
-- A grant is kept while a code that produced it may still be replayed; this finds that code.
CREATE INDEX auth_codes_grant ON auth_codes(grant_id) WHERE grant_id IS NOT NULL;
-- Only requests still pending expire; decided ones are the owner's history.
CREATE INDEX access_requests_pending_expiry ON access_requests(expires_at) WHERE state = 'pending';
-- A used ticket that produced an RPT is kept while that RPT may live (a replay of the ticket revokes it); a
-- ticket that produced none goes at its expiry, found through this index.
CREATE INDEX tickets_unlinked_expiry ON tickets(expires_at) WHERE rpt_jti IS NULL;

-- The schema an owner's policy set was last validated against, as a fingerprint: set by the write that
-- validated it, cleared by every change to the set (the triggers below). A set whose fingerprint is not the
-- running schema's is validated again on its first use, so start-up does not read every owner's policies.
ALTER TABLE policy_versions ADD COLUMN checked_schema TEXT;

DROP TRIGGER policies_bump_on_insert;
DROP TRIGGER policies_bump_on_update;
DROP TRIGGER policies_bump_on_delete;

CREATE TRIGGER policies_bump_on_insert AFTER INSERT ON policies BEGIN
    INSERT INTO policy_versions (owner, version) VALUES (NEW.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET version = version + 1, checked_schema = NULL;
END;

CREATE TRIGGER policies_bump_on_update AFTER UPDATE ON policies BEGIN
    INSERT INTO policy_versions (owner, version) VALUES (OLD.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET version = version + 1, checked_schema = NULL;
    INSERT INTO policy_versions (owner, version) VALUES (NEW.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET version = version + 1, checked_schema = NULL;
END;

CREATE TRIGGER policies_bump_on_delete AFTER DELETE ON policies BEGIN
    INSERT INTO policy_versions (owner, version) VALUES (OLD.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET version = version + 1, checked_schema = NULL;
END;

-- Grants whose tokens were all purged by earlier versions, and that no code can be replayed against, guard
-- nothing: from here on the purge removes a grant with its last token.
DELETE FROM grants
WHERE NOT EXISTS (SELECT 1 FROM tokens WHERE tokens.grant_id = grants.id)
  AND NOT EXISTS (SELECT 1 FROM auth_codes WHERE auth_codes.grant_id = grants.id);
