-- The durable events table: the gateway's `source = "table"` (issue 21), and the
-- reader for Solid Cable's `solid_cable_messages` (`source = "solid-cable"`).
-- Idempotent: safe to run again (re-running re-enables the doorbell trigger).
-- PostgreSQL 13 or later (xid8, pg_snapshot). The ordering argument, why nothing
-- is lost or doubled when transactions commit out of id order, is in
-- proto_docs/delivery.md, "Events table".
--
-- Publishing, from any language or a trigger, inside the app's transaction:
--   SELECT sse_gateway_publish('user_42', '{"status":"approved"}');
-- The event exists if and only if that transaction commits.
--
-- Reading (the gateway): a cursor is an opaque text token. Start with NULL; then
--   SELECT id, channel, payload, event_id, more
--     FROM sse_gateway_read($cursor, $channels::text[], $max_rows);
-- Rows with a non-NULL id are events, in id order: send each with `id: event_id`.
-- The last row always has id NULL: its event_id is the next cursor, and `more`
-- says whether to read again at once. A browser's Last-Event-ID is such a token:
-- sse_gateway_read(last_event_id, ARRAY[its channel], n) replays exactly what it
-- missed, on any replica, if sse_gateway_resumable(last_event_id).

CREATE TABLE IF NOT EXISTS sse_gateway_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel text NOT NULL,
  payload text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- The writing transaction. Readers order by visibility, not by id: ids are
  -- taken at INSERT, transactions commit in any order. Never set it by hand.
  xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);

-- New rows: xid >= a snapshot's xmax, or one of its few in-progress xids.
CREATE INDEX IF NOT EXISTS sse_gateway_events_xid ON sse_gateway_events (xid);
-- The same for a few channels (a resuming browser, a small channel set).
CREATE INDEX IF NOT EXISTS sse_gateway_events_channel_xid ON sse_gateway_events (channel, xid);
-- Trimming.
CREATE INDEX IF NOT EXISTS sse_gateway_events_created_at ON sse_gateway_events (created_at);

-- The highest xid trimmed so far: a token whose snapshot did not see every
-- trimmed transaction may have lost rows, and is not resumable.
CREATE TABLE IF NOT EXISTS sse_gateway_events_trimmed (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  xid xid8 NOT NULL
);
INSERT INTO sse_gateway_events_trimmed (xid) VALUES ('0') ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION sse_gateway_publish(channel text, payload text) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
  INSERT INTO sse_gateway_events (channel, payload) VALUES ($1, $2) RETURNING id
$$;

-- The doorbell: one NOTIFY sse_gateway_doorbell per publishing transaction.
-- Statement-level, and PostgreSQL folds NOTIFYs of one transaction with the same
-- channel and the same payload (here always '') into one, so a transaction that
-- publishes a thousand events rings once. It still takes PostgreSQL's NOTIFY lock
-- at commit; for poll-only publishing without it:
--   ALTER TABLE sse_gateway_events DISABLE TRIGGER sse_gateway_doorbell;
CREATE OR REPLACE FUNCTION sse_gateway_ring_doorbell() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sse_gateway_doorbell', '');
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS sse_gateway_doorbell ON sse_gateway_events;
CREATE TRIGGER sse_gateway_doorbell
  AFTER INSERT ON sse_gateway_events
  FOR EACH STATEMENT EXECUTE FUNCTION sse_gateway_ring_doorbell();

-- A cursor token: either a snapshot `S` (seen: every row visible in S), or
-- `L;H;R` (seen: every row visible in L, and the rows visible in H with id <= R).
-- A malformed token raises an error.
CREATE OR REPLACE FUNCTION sse_gateway_cursor(token text, OUT lo pg_snapshot, OUT hi pg_snapshot,
                                              OUT done_id bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF position(';' IN token) = 0 THEN
    lo := token::pg_snapshot;
    RETURN;
  END IF;
  IF split_part(token, ';', 4) <> '' THEN
    RAISE EXCEPTION 'sse_gateway: malformed cursor';
  END IF;
  lo := split_part(token, ';', 1)::pg_snapshot;
  hi := split_part(token, ';', 2)::pg_snapshot;
  done_id := split_part(token, ';', 3)::bigint;
END
$$;

-- The rows of `channels` not seen by `after`, in id order, at most max_rows, then
-- the trailer row (id NULL) carrying the next cursor. NULL channels: every
-- channel (a gateway with thousands of channels may filter on its side). Each event row's event_id
-- is the cursor just after it. A NULL `after` starts at the current snapshot.
-- Each call is consistent on its own (it filters by an explicit snapshot); in a
-- REPEATABLE READ transaction every call sees the same snapshot, so calls for
-- different cursors that end with more = false end at the same cursor.
CREATE OR REPLACE FUNCTION sse_gateway_read(after text, channels text[], max_rows integer)
RETURNS TABLE (id bigint, channel text, payload text, event_id text, more boolean)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan  -- a generic plan cannot know how recent xmax is
AS $$
#variable_conflict use_column
DECLARE
  lo pg_snapshot;
  hi pg_snapshot;
  lo_xip xid8[];
  done_id bigint;
  fresh boolean;
  n integer := 0;
  last_id bigint;
  r record;
BEGIN
  IF max_rows IS NULL OR max_rows < 1 THEN
    RAISE EXCEPTION 'sse_gateway_read: max_rows must be at least 1';
  END IF;
  IF after IS NULL THEN
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, pg_current_snapshot()::text, false;
    RETURN;
  END IF;
  SELECT c.lo, c.hi, c.done_id INTO lo, hi, done_id FROM sse_gateway_cursor(after) c;
  lo_xip := ARRAY(SELECT pg_snapshot_xip(lo));
  fresh := hi IS NULL;
  IF fresh THEN
    hi := pg_current_snapshot();  -- read the window (lo, now]
    done_id := 0;
  END IF;
  last_id := done_id;
  FOR r IN
    SELECT e.id, e.channel, e.payload
      FROM (  -- the access path, two index ranges: the rows not visible in lo
              SELECT * FROM sse_gateway_events WHERE xid >= pg_snapshot_xmax(lo)
              UNION ALL
              SELECT * FROM sse_gateway_events WHERE xid = ANY (lo_xip)) e
     WHERE NOT pg_visible_in_snapshot(e.xid, lo)  -- not seen ...
       AND pg_visible_in_snapshot(e.xid, hi)      -- ... and committed by the window's end
       AND e.id > done_id
       AND (channels IS NULL OR e.channel = ANY (channels))
     ORDER BY e.id
     LIMIT max_rows + 1
  LOOP
    n := n + 1;
    IF n > max_rows THEN  -- more in this window: the cursor stays inside it
      RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, format('%s;%s;%s', lo, hi, last_id), true;
      RETURN;
    END IF;
    last_id := r.id;
    id := r.id;
    channel := r.channel;
    payload := r.payload;
    event_id := format('%s;%s;%s', lo, hi, r.id);
    more := NULL;
    RETURN NEXT;
  END LOOP;
  -- The window is drained: everything visible in hi is seen. A window carried
  -- over from an earlier call may be followed by newer rows: read again.
  RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, hi::text, NOT fresh;
END
$$;

-- Whether a token (a browser's Last-Event-ID) can replay exactly: it parses, it
-- is not from the future (another cluster), and no row it had not seen was trimmed.
-- When false the gateway falls back to the route's snapshot, as for an unknown id.
CREATE OR REPLACE FUNCTION sse_gateway_resumable(token text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  c record;
BEGIN
  SELECT * INTO c FROM sse_gateway_cursor(token);
  RETURN pg_snapshot_xmax(coalesce(c.hi, c.lo)) <= pg_snapshot_xmax(pg_current_snapshot())
     AND (SELECT t.xid FROM sse_gateway_events_trimmed t) < pg_snapshot_xmin(c.lo);
EXCEPTION WHEN others THEN
  RETURN false;
END
$$;

-- Deletes up to max_rows rows older than `retention`; NULL when another replica
-- holds the trim lock (a transaction-level advisory lock: released at commit,
-- safe behind a transaction-pooling proxy). Run it in its own transaction.
CREATE OR REPLACE FUNCTION sse_gateway_trim(retention interval, max_rows integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n bigint;
  top xid8;
BEGIN
  IF NOT pg_try_advisory_xact_lock(5353450021) THEN  -- sse_gateway_events trim
    RETURN NULL;
  END IF;
  WITH gone AS (
    DELETE FROM sse_gateway_events
     WHERE id IN (SELECT e.id FROM sse_gateway_events e
                   WHERE e.created_at < now() - retention
                   ORDER BY e.created_at LIMIT max_rows)
    RETURNING xid
  )
  SELECT count(*), (SELECT g.xid FROM gone g ORDER BY g.xid DESC LIMIT 1) INTO n, top FROM gone;
  IF top IS NOT NULL THEN
    UPDATE sse_gateway_events_trimmed SET xid = top WHERE xid < top;
  END IF;
  RETURN n;
END
$$;

-- Solid Cable (`source = "solid-cable"`): solid_cable_messages as the gem
-- creates it (bigserial id, bytea channel and payload, channel_hash, created_at)
-- has no xid column and cannot be changed, so the reader tracks gaps in the id
-- sequence instead. The gem's own `id > last_id` poll skips a row whose
-- transaction commits after a higher id was read; this one keeps the missing ids
-- and looks for them again until every transaction that could still hold one has
-- ended.
--
-- Token: `sc;LAST;GAPS`, GAPS a comma list of `id@T`: an id below LAST not yet
-- seen, closed once a snapshot's xmin reaches T (T = 0: not yet measured).
-- Assumes the sequence is not cached (bigserial's CACHE 1, as Rails creates it)
-- and that an inserting transaction has its xid by the reader's next poll after
-- it took its id (it takes both within one INSERT).
--
--   SELECT id, channel, payload, event_id, more
--     FROM sse_gateway_solid_cable_read($cursor, $channel_hashes::bigint[], $max_rows);
-- As sse_gateway_read (NULL channel_hashes: every channel); compare `channel`
-- too (channel_hash can collide). A browser's Last-Event-ID replays if
-- sse_gateway_solid_cable_resumable(it). Unlike
-- sse_gateway_read it needs a read-write transaction when gaps are pending (it
-- takes one xid to measure them), so never run it READ ONLY.
CREATE OR REPLACE FUNCTION sse_gateway_solid_cable_read(after text, channel_hashes bigint[], max_rows integer)
RETURNS TABLE (id bigint, channel bytea, payload bytea, event_id text, more boolean)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan  -- a generic plan cannot know how recent last_id is
AS $$
#variable_conflict use_column
DECLARE
  last_id bigint;
  gap_ids bigint[] := '{}';
  gap_t bigint[] := '{}';
  snap pg_snapshot;
  xmin_now bigint;
  mark bigint;
  part text;
  n integer := 0;
  i integer;
  r record;
  truncated boolean := false;
  upto bigint;
BEGIN
  IF max_rows IS NULL OR max_rows < 1 THEN
    RAISE EXCEPTION 'sse_gateway_solid_cable_read: max_rows must be at least 1';
  END IF;
  IF after IS NULL THEN
    -- Start at the newest id; the ids missing among the 1000 below it may belong
    -- to transactions still open (the rest of the table is history): gaps.
    last_id := coalesce((SELECT max(m.id) FROM solid_cable_messages m), 0);
    RETURN QUERY SELECT NULL::bigint, NULL::bytea, NULL::bytea,
                        'sc;' || last_id || ';' || coalesce(
                          (SELECT string_agg(g || '@0', ',' ORDER BY g)
                             FROM generate_series(greatest(last_id - 1000, 1), last_id - 1) g
                            WHERE NOT EXISTS (SELECT 1 FROM solid_cable_messages m WHERE m.id = g)), ''),
                        false;
    RETURN;
  END IF;
  IF split_part(after, ';', 1) <> 'sc' OR split_part(after, ';', 4) <> '' THEN
    RAISE EXCEPTION 'sse_gateway: malformed cursor';
  END IF;
  last_id := split_part(after, ';', 2)::bigint;
  IF split_part(after, ';', 3) <> '' THEN
    FOREACH part IN ARRAY string_to_array(split_part(after, ';', 3), ',') LOOP
      gap_ids := gap_ids || split_part(part, '@', 1)::bigint;
      gap_t := gap_t || split_part(part, '@', 2)::bigint;
    END LOOP;
  END IF;
  snap := pg_current_snapshot();  -- taken before the query below: it sees at least this
  xmin_now := pg_snapshot_xmin(snap)::text::bigint;
  -- Gaps seen by an earlier call get their mark now: an xid of our own, taken
  -- after the transaction holding the gap's id took its xid. Once no transaction
  -- below the mark runs (xmin >= mark), that one has ended, and its row, if it
  -- committed, is visible to this call's query.
  IF 0 = ANY (gap_t) THEN
    mark := pg_current_xact_id()::text::bigint + 1;
    FOR i IN 1 .. coalesce(array_length(gap_t, 1), 0) LOOP
      IF gap_t[i] = 0 THEN gap_t[i] := mark; END IF;
    END LOOP;
  END IF;
  upto := last_id;
  FOR r IN
    SELECT m.id, m.channel, m.payload,
           (channel_hashes IS NULL OR m.channel_hash = ANY (channel_hashes)) AS wanted
      FROM solid_cable_messages m
     WHERE m.id > last_id OR m.id = ANY (gap_ids)
     ORDER BY m.id
     LIMIT max_rows + 1
  LOOP
    n := n + 1;
    IF n > max_rows THEN
      truncated := true;
      EXIT;
    END IF;
    upto := r.id;
    IF r.id <= last_id THEN  -- a gap filled: a late commit
      i := array_position(gap_ids, r.id);
      gap_ids := gap_ids[:i - 1] || gap_ids[i + 1:];
      gap_t := gap_t[:i - 1] || gap_t[i + 1:];
    ELSE
      -- Ids taken by transactions not committed yet (or rolled back). At most
      -- 10000 per jump: a forged token cannot make this loop long.
      FOR i IN greatest(last_id + 1, r.id - 10000) .. r.id - 1 LOOP
        gap_ids := gap_ids || i::bigint;
        gap_t := gap_t || 0::bigint;
      END LOOP;
      last_id := r.id;
    END IF;
    IF r.wanted THEN
      id := r.id;
      channel := r.channel;
      payload := r.payload;
      event_id := 'sc;' || last_id || ';' ||
                  coalesce((SELECT string_agg(g || '@' || t, ',') FROM unnest(gap_ids, gap_t) AS x(g, t)), '');
      more := NULL;
      RETURN NEXT;
    END IF;
  END LOOP;
  -- Close the gaps this query covered whose mark is behind every running transaction.
  SELECT coalesce(array_agg(g ORDER BY g), '{}'), coalesce(array_agg(t ORDER BY g), '{}')
    INTO gap_ids, gap_t
    FROM unnest(gap_ids, gap_t) AS x(g, t)
   WHERE NOT (t <> 0 AND t <= xmin_now AND g <= upto);
  RETURN QUERY SELECT NULL::bigint, NULL::bytea, NULL::bytea,
                      'sc;' || last_id || ';' ||
                      coalesce((SELECT string_agg(g || '@' || t, ',') FROM unnest(gap_ids, gap_t) AS x(g, t)), ''),
                      truncated;
END
$$;

-- Whether a Solid Cable token can replay: it parses, its last id is not beyond
-- the table's (another database), and the row at its last id or an older one is
-- still there, so the gem's trim (oldest created_at first) has not reached the
-- rows after it. (A gap row that commits only after the gem's retention could be
-- trimmed unseen; retention is a day by default.)
CREATE OR REPLACE FUNCTION sse_gateway_solid_cable_resumable(token text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  last_id bigint;
  part text;
BEGIN
  IF split_part(token, ';', 1) <> 'sc' OR split_part(token, ';', 4) <> '' THEN
    RETURN false;
  END IF;
  last_id := split_part(token, ';', 2)::bigint;
  IF split_part(token, ';', 3) <> '' THEN
    FOREACH part IN ARRAY string_to_array(split_part(token, ';', 3), ',') LOOP
      PERFORM split_part(part, '@', 1)::bigint, split_part(part, '@', 2)::bigint;
    END LOOP;
  END IF;
  RETURN last_id <= (SELECT max(m.id) FROM solid_cable_messages m)
     AND (SELECT min(m.id) FROM solid_cable_messages m) <= last_id;
EXCEPTION WHEN others THEN
  RETURN false;
END
$$;
