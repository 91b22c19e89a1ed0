-- Each API process keeps the keys it authenticated in memory (api/auth.py KeyCache) instead of a
-- database round trip per request. A change that can make a key stop working (revoked, expired
-- sooner, scopes or store changed, deleted, a store's deletion cascading to its keys, a
-- TRUNCATE) is announced on `paywatch_api_keys` with the key's id ('*': all of them), and every
-- process drops its copy at once. last_used_at is not announced: it changes nothing a cache
-- holds, and it is written in batches by the caches themselves.
CREATE FUNCTION paywatch_notify_api_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('paywatch_api_keys', '*');
    ELSE
        PERFORM pg_notify('paywatch_api_keys', OLD.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_notify
AFTER UPDATE OF revoked_at, expires_at, scopes, store_id, key_hash OR DELETE ON api_keys
FOR EACH ROW EXECUTE FUNCTION paywatch_notify_api_key();

CREATE TRIGGER api_keys_notify_truncate
AFTER TRUNCATE ON api_keys
FOR EACH STATEMENT EXECUTE FUNCTION paywatch_notify_api_key();
