-- NOTIFY user_<id> with the new status whenever users.authy_status changes, for
-- apps that don't NOTIFY themselves (Rails 5.2+ after_save hooks often don't fire
-- the article's `authy_status_changed?` branch). The notification is sent at
-- commit, so a rolled-back update never reaches a browser.
--
-- The channel name must match the gateway's --channel-template (default
-- user_{user}); pg_notify() takes it verbatim, unlike an unquoted NOTIFY.

CREATE OR REPLACE FUNCTION sse_gateway_notify_authy_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.authy_status IS DISTINCT FROM OLD.authy_status AND NEW.authy_status IS NOT NULL THEN
    PERFORM pg_notify('user_' || NEW.id::text, NEW.authy_status::text);
  END IF;
  RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS sse_gateway_authy_status ON users;
CREATE TRIGGER sse_gateway_authy_status
  AFTER UPDATE OF authy_status ON users
  FOR EACH ROW EXECUTE FUNCTION sse_gateway_notify_authy_status();
