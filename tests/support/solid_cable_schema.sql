-- solid_cable_messages exactly as Rails creates it on PostgreSQL from the gem's
-- lib/generators/solid_cable/install/templates/db/cable_schema.rb
-- (t.binary -> bytea, t.datetime -> timestamp(6), t.integer limit: 8 -> bigint,
-- create_table's id -> bigserial primary key). Shared by
-- tests/integration/test_events_table_sql.py and table_reader/table_reader_test.cpp.
CREATE TABLE solid_cable_messages (
  id bigserial PRIMARY KEY,
  channel bytea NOT NULL,
  payload bytea NOT NULL,
  created_at timestamp(6) without time zone NOT NULL,
  channel_hash bigint NOT NULL
);
CREATE INDEX index_solid_cable_messages_on_channel ON solid_cable_messages (channel);
CREATE INDEX index_solid_cable_messages_on_channel_hash ON solid_cable_messages (channel_hash);
CREATE INDEX index_solid_cable_messages_on_created_at ON solid_cable_messages (created_at);
