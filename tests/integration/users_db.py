"""The users table of the reference app, with the NOTIFY trigger from deploy/sql,
for the delivery tests."""
import os

import harness

TRIGGER_SQL = os.path.join(harness.HERE, "..", "..", "deploy", "sql", "authy_status_notify.sql")
SNAPSHOT_SQL = "SELECT authy_status FROM users WHERE id = $1"


def create_users(pg, count):
    pg.execute("CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, authy_status text)")
    pg.execute(f"INSERT INTO users SELECT g, NULL FROM generate_series(1, {count}) g ON CONFLICT DO NOTHING")
    with open(TRIGGER_SQL) as f:
        pg.execute(f.read())


def set_status(pg, user, status):
    pg.execute(f"UPDATE users SET authy_status = {harness.sql_literal(status)} WHERE id = {int(user)}")
