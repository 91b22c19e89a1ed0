DROP TRIGGER api_keys_notify_truncate ON api_keys;
DROP TRIGGER api_keys_notify ON api_keys;
DROP FUNCTION paywatch_notify_api_key();
