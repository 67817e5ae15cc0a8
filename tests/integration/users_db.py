"""The users table of the reference app, with the NOTIFY trigger from deploy/sql,
for the delivery tests."""
import os

import harness

TRIGGER_SQL = os.path.join(harness.HERE, "..", "..", "deploy", "sql", "authy_status_notify.sql")
SNAPSHOT_SQL = "SELECT authy_status FROM users WHERE id = $1"
# The same, slow: the row is read when the statement starts (its snapshot), then
# the query sleeps, so a change committed meanwhile is newer than its result. Each
# run is logged in snapshot_log, which counts the queries.
SLOW_SNAPSHOT_SQL = ("WITH logged AS (INSERT INTO snapshot_log (user_id) VALUES ($1)) "
                     "SELECT authy_status FROM users, pg_sleep(1.5) WHERE id = $1")


def create_users(pg, count):
    pg.execute("CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, authy_status text)")
    pg.execute(f"INSERT INTO users SELECT g, NULL FROM generate_series(1, {count}) g ON CONFLICT DO NOTHING")
    pg.execute("CREATE TABLE IF NOT EXISTS snapshot_log (user_id bigint, at timestamptz DEFAULT clock_timestamp())")
    with open(TRIGGER_SQL) as f:
        pg.execute(f.read())


def set_status(pg, user, status):
    pg.execute(f"UPDATE users SET authy_status = {harness.sql_literal(status)} WHERE id = {int(user)}")


def snapshot_queries(pg, user):
    """How many snapshot queries SLOW_SNAPSHOT_SQL ran for the user."""
    return int(pg.execute(f"SELECT count(*) FROM snapshot_log WHERE user_id = {int(user)}"))


def wait_slow_snapshot_running(pg, timeout=20):
    """Until a SLOW_SNAPSHOT_SQL query is running (it has read its row and sleeps)."""
    harness.wait_until(lambda: int(pg.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(1.5)%' "
        "AND pid <> pg_backend_pid()")) > 0, timeout, "a slow snapshot query to run")
