-- uma-cedar schema, version 3: the registered token_endpoint_auth_method is enforced (RFC 7591 §2), so it must
-- agree with whether the client has a secret. Version 2 already wrote consistent rows; this repairs any row
-- edited by hand and keeps the rule from here on. A confidential client keeps the method it registered
-- (`client_secret_basic` by default); one that used to send its secret in the body must switch to Basic or be
-- registered again with `client_secret_post`.

UPDATE clients SET auth_method = 'none' WHERE secret_hash IS NULL AND auth_method <> 'none';
UPDATE clients SET auth_method = 'client_secret_basic' WHERE secret_hash IS NOT NULL AND auth_method = 'none';

CREATE TRIGGER clients_auth_method_insert BEFORE INSERT ON clients
WHEN (NEW.secret_hash IS NULL) <> (NEW.auth_method = 'none')
BEGIN
    SELECT RAISE(ABORT, 'clients.auth_method must be ''none'' exactly when the client has no secret');
END;

CREATE TRIGGER clients_auth_method_update BEFORE UPDATE OF secret_hash, auth_method ON clients
WHEN (NEW.secret_hash IS NULL) <> (NEW.auth_method = 'none')
BEGIN
    SELECT RAISE(ABORT, 'clients.auth_method must be ''none'' exactly when the client has no secret');
END;
