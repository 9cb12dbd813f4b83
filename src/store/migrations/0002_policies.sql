-- uma-cedar schema, version 2: owners' sharing policies (Cedar text, validated before it is written).

-- One row per named policy source of an owner; pushing a source of the same name replaces it.
CREATE TABLE policies (
    owner      TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    text       TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner, name)
) STRICT;

-- A counter per owner that every change to the owner's policies bumps, so a server can tell with one indexed
-- read whether its cached parse of the set is stale, whichever process (the server, the CLI) made the change.
-- No foreign key on purpose: the counter must outlive the owner, or an owner removed and created again would
-- start counting from the start and meet a cache entry of the same version holding the old policies.
CREATE TABLE policy_versions (
    owner   TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) STRICT;

-- Triggers rather than calls in the store code, so every change counts: cascades when an owner is removed
-- included.
CREATE TRIGGER policies_bump_on_insert AFTER INSERT ON policies BEGIN
    INSERT INTO policy_versions (owner, version) VALUES (NEW.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER policies_bump_on_update AFTER UPDATE ON policies BEGIN
    INSERT INTO policy_versions (owner, version) VALUES (OLD.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET version = version + 1;
    INSERT INTO policy_versions (owner, version) VALUES (NEW.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER policies_bump_on_delete AFTER DELETE ON policies BEGIN
    INSERT INTO policy_versions (owner, version) VALUES (OLD.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
