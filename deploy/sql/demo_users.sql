-- The users table of the reference app (only the columns the OneTouch flow uses),
-- seeded for the demo (scripts/run.sh) and the browser test. Load
-- authy_status_notify.sql after it for the NOTIFY trigger.
--
-- The Authy webhook sets authy_status to 'approved' or 'denied'; the login step
-- sets it back to 'unverified' when it starts a new OneTouch request.

CREATE TABLE IF NOT EXISTS users (
  id           bigint PRIMARY KEY,
  email        text NOT NULL,
  authy_status text NOT NULL DEFAULT 'unverified'
);

-- Users 1..1000 (the demo page's default is 42), each waiting for approval.
INSERT INTO users (id, email)
SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 1000) AS g
ON CONFLICT (id) DO NOTHING;
