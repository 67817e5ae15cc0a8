"""The database half of issue 21, proven in SQL against a real PostgreSQL:
deploy/sql/sse_gateway_events.sql's read protocol loses and doubles nothing when
transactions commit out of id order, where the naive `id > last_id` loses the
row. Several psql sessions held open drive the interleavings."""
import hashlib
import os
import struct
import subprocess
import unittest

import harness

SQL_FILE = os.path.join(harness.HERE, "..", "..", "deploy", "sql", "sse_gateway_events.sql")
TRIM_LOCK = 5353450021
MIB = 1024 * 1024

# solid_cable_messages exactly as Rails creates it (the gem's cable_schema.rb).
with open(os.path.join(harness.HERE, "..", "support", "solid_cable_schema.sql"), encoding="utf-8") as f:
    SOLID_CABLE_SCHEMA = f.read()


def channel_hash(channel):
    """SolidCable::Message.channel_hash_for: SHA-256's first 8 bytes as a signed big-endian int."""
    return struct.unpack(">q", hashlib.sha256(channel.encode()).digest()[:8])[0]


lit = harness.sql_literal


class Psql:
    """One psql session held open: statements run in order, in one backend, so a
    transaction can stay open across calls. Output is read up to a marker."""

    def __init__(self, url):
        self.proc = subprocess.Popen([harness.PSQL, url, "-X", "-qAt", "-v", "ON_ERROR_STOP=0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.n = 0
        self.notifications = []

    def run(self, sql):
        """The output lines of sql (async notifications are collected aside)."""
        self.n += 1
        marker = f"__end_{self.n}__"
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + marker + "\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"psql exited while running {sql[:200]!r}: {lines}")
            line = line.rstrip("\n")
            if line == marker:
                break
            if line.startswith("Asynchronous notification"):
                self.notifications.append(line)
            else:
                lines.append(line)
        errors = [l for l in lines if "ERROR:" in l]
        if errors:
            raise AssertionError(f"{sql[:200]!r} failed: {errors}")
        return lines

    def value(self, sql):
        lines = self.run(sql)
        return lines[0] if lines else None

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)
        self.proc.stdout.close()


class Reader:
    """The gateway's reader: a cursor and sse_gateway_read, on its own session."""

    def __init__(self, session, channels, max_rows=100, cursor=None, function="sse_gateway_read",
                 array_type="text[]"):
        self.s = session
        self.channels = channels
        self.max_rows = max_rows
        self.function = function
        self.array_type = array_type
        self.cursor = cursor
        if cursor is None:
            self.read_once()

    def read_once(self):
        """One call: [(id, payload, event_id)], and whether to read again at once."""
        arr = "NULL" if self.channels is None else (
            "ARRAY[" + ",".join(self.channel_sql(c) for c in self.channels) + f"]::{self.array_type}")
        after = "NULL" if self.cursor is None else lit(self.cursor)
        payload = "convert_from(payload, 'UTF8')" if self.function != "sse_gateway_read" else "payload"
        lines = self.s.run(f"SELECT id, coalesce({payload}, ''), event_id, coalesce(more::text, '') "
                           f"FROM {self.function}({after}, {arr}, {self.max_rows})")
        rows = [l.split("|") for l in lines]
        assert rows and rows[-1][0] == "", f"no trailer row: {rows}"
        self.cursor = rows[-1][2]
        return [(int(r[0]), r[1], r[2]) for r in rows[:-1]], rows[-1][3] == "true"

    def channel_sql(self, channel):
        return lit(channel) if self.array_type == "text[]" else str(channel_hash(channel))

    def read(self):
        """Reads until the function says nothing more is ready: the payloads, in order."""
        got = []
        for _ in range(1000):
            rows, more = self.read_once()
            got.extend(rows)
            if not more:
                return got
        raise AssertionError("sse_gateway_read kept saying more")


class EventsTableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.TempPostgres().__enter__()
        cls.addClassCleanup(cls.pg.close)
        out = subprocess.run([harness.PSQL, cls.pg.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", SQL_FILE],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError(out.stderr)
        cls.pg.execute(SOLID_CABLE_SCHEMA)

    def setUp(self):
        self.pg.execute("TRUNCATE sse_gateway_events, solid_cable_messages")
        self.sessions = []

    def tearDown(self):
        for s in self.sessions:
            s.close()

    def session(self):
        s = Psql(self.pg.url)
        self.sessions.append(s)
        return s

    def publish(self, session, channel, payload):
        return int(session.value(f"SELECT sse_gateway_publish({lit(channel)}, {lit(payload)})"))

    def naive(self, session, last_id, channels):
        """What Solid Cable and a plain outbox poller do: id > last_id."""
        arr = ",".join(lit(c) for c in channels)
        return [int(x) for x in session.run(
            f"SELECT id FROM sse_gateway_events WHERE id > {last_id} AND channel IN ({arr}) ORDER BY id")]

    def hold_lower_id(self, channel="a"):
        """A transaction that took a lower id and has not committed; then a
        higher id committed by another session. Returns (holder, low, high)."""
        holder = self.session()
        holder.run("BEGIN")
        low = self.publish(holder, channel, "early")
        high = self.publish(self.session(), channel, "late")
        self.assertLess(low, high)
        return holder, low, high

    # --- out-of-order commits --------------------------------------------
    def test_a_poller_gets_a_lower_id_that_commits_after_a_higher_one_was_read(self):
        reader = Reader(self.session(), ["a"])
        holder, low, high = self.hold_lower_id()
        self.assertEqual([(r[0], r[1]) for r in reader.read()], [(high, "late")])
        naive_seen = self.naive(reader.s, 0, ["a"])
        self.assertEqual(naive_seen, [high])
        self.assertEqual(reader.read(), [])  # still uncommitted: nothing yet
        holder.run("COMMIT")
        self.assertEqual([(r[0], r[1]) for r in reader.read()], [(low, "early")])
        self.assertEqual(reader.read(), [])  # once
        # The naive cursor, now at `high`, never returns `low`: the row is lost.
        self.assertEqual(self.naive(reader.s, max(naive_seen), ["a"]), [])

    def test_a_browser_resuming_with_the_higher_events_id_gets_the_lower_one_once(self):
        reader = Reader(self.session(), ["a", "b"])
        holder, low, high = self.hold_lower_id()
        rows = reader.read()
        self.assertEqual([r[0] for r in rows], [high])
        last_event_id = rows[0][2]  # what the browser holds when it disconnects
        holder.run("COMMIT")
        # Another replica, another session: only the browser's token and channel.
        other = self.session()
        self.assertEqual(other.value(f"SELECT sse_gateway_resumable({lit(last_event_id)})"), "t")
        resumed = Reader(other, ["a"], cursor=last_event_id)
        self.assertEqual([(r[0], r[1]) for r in resumed.read()], [(low, "early")])
        self.assertEqual(resumed.read(), [])
        later = self.publish(self.session(), "a", "after")
        self.assertEqual([r[0] for r in resumed.read()], [later])
        # A naive Last-Event-ID (the row id) resumes after `high` and loses `low`.
        self.assertNotIn(low, self.naive(other, high, ["a"]))

    def test_a_browser_cut_mid_batch_resumes_at_the_next_row_of_the_batch(self):
        s = self.session()
        reader = Reader(s, ["a"])
        holder, low, high = self.hold_lower_id()
        ids = [high] + [self.publish(s, "a", f"m{i}") for i in range(3)]
        rows = reader.read()
        self.assertEqual([r[0] for r in rows], ids)
        holder.run("COMMIT")
        resumed = Reader(self.session(), ["a"], cursor=rows[1][2])  # got two of four
        self.assertEqual([r[0] for r in resumed.read()], ids[2:] + [low])
        self.assertEqual(resumed.read(), [])
        self.assertEqual(self.naive(s, ids[1], ["a"]), ids[2:])  # naive: `low` lost

    def test_small_batches_with_a_late_commit_between_them_get_every_row_once(self):
        s = self.session()
        reader = Reader(s, ["a"], max_rows=2)
        holder, low, high = self.hold_lower_id()
        ids = [high] + [self.publish(s, "a", f"m{i}") for i in range(4)]
        got = [reader.read_once()[0] for _ in range(2)]  # two windows of two
        holder.run("COMMIT")
        got = [r[0] for batch in got for r in batch] + [r[0] for r in reader.read()]
        self.assertEqual(sorted(got), sorted(ids + [low]))
        self.assertEqual(len(got), len(set(got)))
        self.assertEqual(reader.read(), [])
        self.assertNotIn(low, self.naive(s, ids[3], ["a"]))  # naive, after the two windows: lost

    def test_a_resumed_stream_and_the_live_reader_end_at_the_same_cursor(self):
        """The gateway joins a resumed stream to the live feed: both read in one
        REPEATABLE READ transaction until more is false, then share the cursor."""
        s = self.session()
        live = Reader(s, ["a", "b"])
        holder, low, high = self.hold_lower_id()
        token = live.read()[0][2]
        holder.run("COMMIT")
        self.publish(self.session(), "b", "x")
        s.run("BEGIN ISOLATION LEVEL REPEATABLE READ")
        live_rows = live.read()
        resumed = Reader(s, ["a"], cursor=token)
        resumed_rows = resumed.read()
        s.run("COMMIT")
        self.assertEqual(resumed.cursor, live.cursor)
        self.assertEqual([r[0] for r in resumed_rows], [low])
        self.assertNotIn(low, self.naive(s, high, ["a"]))
        self.assertIn(low, [r[0] for r in live_rows])

    def test_rows_for_channels_not_asked_for_are_not_returned(self):
        s = self.session()
        reader = Reader(s, ["a", "c"])
        self.publish(s, "b", "no")
        self.publish(s, "a", "yes")
        self.publish(s, "ab", "no")
        self.publish(s, "c", "yes too")
        self.assertEqual([r[1] for r in reader.read()], ["yes", "yes too"])
        everything = Reader(s, None, cursor=reader.cursor)  # NULL: every channel
        self.publish(s, "b", "b now")
        self.publish(s, "a", "a now")
        self.assertEqual([r[1] for r in everything.read()], ["b now", "a now"])

    def test_a_rolled_back_event_never_exists(self):
        s = self.session()
        reader = Reader(s, ["a"])
        s.run("BEGIN")
        self.publish(s, "a", "gone")
        s.run("ROLLBACK")
        self.publish(s, "a", "kept")
        self.assertEqual([r[1] for r in reader.read()], ["kept"])

    def test_one_mib_payloads_round_trip(self):
        s = self.session()
        reader = Reader(s, ["a"])
        s.run("SELECT sse_gateway_publish('a', repeat('x', 1048576) || 'end')")
        rows = reader.read()
        self.assertEqual(len(rows), 1)
        self.assertEqual(len(rows[0][1]), MIB + 3)
        self.assertTrue(rows[0][1].endswith("xend"))

    def random_interleaving(self, publish, reader, resume, naive, seed):
        """Five writers open, publish into, commit or roll back transactions in a
        seeded random order while a reader polls; browsers drop at random points
        and resume from their last id at the end. Everyone gets every committed
        row once, and no other row."""
        import random
        rnd = random.Random(seed)
        self.pg.execute("TRUNCATE sse_gateway_events, solid_cable_messages")  # the naive poller starts at 0
        writers = [self.session() for _ in range(5)]
        open_rows = {i: None for i in range(5)}  # writer -> ids of its open transaction
        committed, got, drops = set(), [], []
        naive_got = []  # the naive poller, reading alongside: id > the last id it read
        for step in range(150):
            w = rnd.randrange(5)
            action = rnd.random()
            if open_rows[w] is None:
                writers[w].run("BEGIN")
                open_rows[w] = []
            if action < 0.5:
                open_rows[w].append(publish(writers[w], f"s{step}"))
            elif action < 0.75:
                writers[w].run("COMMIT")
                committed.update(open_rows[w])
                open_rows[w] = None
            elif action < 0.8:
                writers[w].run("ROLLBACK")
                open_rows[w] = None
            else:
                naive_got.extend(naive(reader.s, max(naive_got, default=0)))
                rows = reader.read()
                got.extend(r[0] for r in rows)
                if rows and rnd.random() < 0.5:  # a browser drops after some of these rows
                    cut = rnd.randrange(len(rows))
                    drops.append((rows[cut][2], set(got[:len(got) - len(rows) + cut + 1])))
        for w in range(5):
            if open_rows[w] is not None:
                writers[w].run("COMMIT")
                committed.update(open_rows[w])
        got.extend(r[0] for r in reader.read())
        got.extend(r[0] for r in reader.read())
        naive_got.extend(naive(reader.s, max(naive_got, default=0)))
        self.assertLess(set(naive_got), committed, "the interleaving never committed out of order")
        self.assertEqual(len(got), len(set(got)), "a row was doubled")
        self.assertEqual(set(got), committed)
        self.assertGreater(len(drops), 3)
        for token, seen in drops:
            replayed = [r[0] for r in resume(token)]
            self.assertEqual(len(replayed), len(set(replayed)), "a row was replayed twice")
            self.assertEqual(set(replayed), committed - seen)

    def test_random_interleavings_lose_and_double_nothing(self):
        for seed in (1, 2):
            self.random_interleaving(
                lambda s, p: self.publish(s, "a", p), Reader(self.session(), ["a"], max_rows=3),
                lambda token: Reader(self.session(), ["a"], cursor=token).read(),
                lambda s, last: self.naive(s, last, ["a"]), seed)

    def test_solid_cable_random_interleavings_lose_and_double_nothing(self):
        self.random_interleaving(
            lambda s, p: self.broadcast(s, "chat_1", p),
            self.solid_cable_reader(self.session(), ["chat_1"], max_rows=3),
            lambda token: self.solid_cable_reader(self.session(), ["chat_1"], cursor=token).read(),
            lambda s, last: self.gem_poll(s, last, "chat_1"), 3)

    # --- doorbell -----------------------------------------------------------
    def test_the_doorbell_rings_once_per_publishing_transaction(self):
        listener = self.session()
        listener.run("LISTEN sse_gateway_doorbell")
        s = self.session()
        s.run("BEGIN")
        for i in range(5):
            self.publish(s, "a", f"e{i}")
        s.run("SAVEPOINT sp")
        self.publish(s, "b", "in a savepoint")
        s.run("RELEASE sp")
        s.run("INSERT INTO sse_gateway_events (channel, payload) VALUES ('a', 'x'), ('a', 'y')")
        s.run("COMMIT")
        self.publish(s, "a", "autocommit")
        s.run("BEGIN")
        self.publish(s, "a", "rolled back")
        s.run("ROLLBACK")
        harness.wait_until(lambda: listener.run("SELECT 1") and len(listener.notifications) >= 2, 5,
                           "two doorbells")
        listener.run("SELECT pg_sleep(0.3)")
        self.assertEqual(len(listener.notifications), 2, listener.notifications)
        self.assertTrue(all('"sse_gateway_doorbell"' in n and "payload" not in n
                            for n in listener.notifications), listener.notifications)

    # --- trimming -------------------------------------------------------------
    def test_trimming_takes_the_lock_and_removes_only_old_rows(self):
        s = self.session()
        s.run("INSERT INTO sse_gateway_events (channel, payload, created_at) "
              "SELECT 'a', 'old' || i, now() - interval '2 hours' FROM generate_series(1, 5) i")
        old_token = s.value("SELECT pg_current_snapshot()")  # had not seen the next old rows
        s.run("INSERT INTO sse_gateway_events (channel, payload, created_at) "
              "VALUES ('a', 'old6', now() - interval '2 hours')")
        for i in range(3):
            self.publish(s, "a", f"new{i}")
        other_replica = self.session()
        other_replica.run("BEGIN")
        self.assertEqual(other_replica.value("SELECT sse_gateway_trim('1 hour')"), "6")
        # While that trim's transaction is open, a second replica's trim does nothing.
        self.assertEqual(s.value("SELECT coalesce(sse_gateway_trim('1 hour')::text, 'locked')"), "locked")
        self.assertEqual(s.value(f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                 f"AND ((classid::bigint << 32) | objid::bigint) = {TRIM_LOCK} AND granted"), "1")
        other_replica.run("COMMIT")
        self.assertEqual(s.value("SELECT string_agg(payload, ',' ORDER BY id) FROM sse_gateway_events"),
                         "new0,new1,new2")
        self.assertEqual(s.value("SELECT sse_gateway_trim('1 hour')"), "0")
        # A token that had not seen a trimmed row cannot resume exactly; a fresh one can.
        self.assertEqual(s.value(f"SELECT sse_gateway_resumable({lit(old_token)})"), "f")
        self.assertEqual(s.value("SELECT sse_gateway_resumable(pg_current_snapshot()::text)"), "t")
        self.assertEqual(s.value("SELECT sse_gateway_resumable('garbage')"), "f")
        self.assertEqual(s.value("SELECT sse_gateway_resumable('999999999:999999999:')"), "f")  # from the future

    # --- Solid Cable ------------------------------------------------------------
    def broadcast(self, session, channel, payload):
        """SolidCable::Message.broadcast: insert with created_at, channel, payload, channel_hash."""
        return int(session.value(
            "INSERT INTO solid_cable_messages (created_at, channel, payload, channel_hash) VALUES "
            f"(now()::timestamp, convert_to({lit(channel)}, 'UTF8'), convert_to({lit(payload)}, 'UTF8'), "
            f"{channel_hash(channel)}) RETURNING id"))

    def gem_poll(self, session, last_id, channel):
        """SolidCable::Message.broadcastable(channels, last_id): the gem's own poll."""
        return [int(x) for x in session.run(
            f"SELECT id FROM solid_cable_messages WHERE channel_hash = {channel_hash(channel)} "
            f"AND id > {last_id} ORDER BY id")]

    def solid_cable_reader(self, session, channels, **kw):
        return Reader(session, channels, function="sse_gateway_solid_cable_read", array_type="bigint[]", **kw)

    def test_channel_hash_matches_the_gems(self):
        s = self.session()
        for channel in ["chat_1", "Z2lkOi8vYXBwL1VzZXIvMQ", "ünï"]:
            self.assertEqual(int(s.value(f"SELECT ('x' || encode(substr(sha256(convert_to({lit(channel)}, 'UTF8')),"
                                         " 1, 8), 'hex'))::bit(64)::bigint")), channel_hash(channel))

    def test_solid_cable_a_late_commit_is_read_once_where_the_gems_poll_loses_it(self):
        s = self.session()
        reader = self.solid_cable_reader(s, ["chat_1"])
        holder = self.session()
        holder.run("BEGIN")
        low = self.broadcast(holder, "chat_1", "early")
        high = self.broadcast(self.session(), "chat_1", "late")
        self.broadcast(s, "chat_2", "other channel")  # not asked for: skipped, but no gap
        rows = reader.read()
        self.assertEqual([(r[0], r[1]) for r in rows], [(high, "late")])
        token = rows[0][2]
        # The gem's own poll: broadcastable(channels, last_id) = id > last_id.
        gem_last_id = int(s.value(f"SELECT max(id) FROM solid_cable_messages WHERE channel_hash = "
                                  f"{channel_hash('chat_1')}"))
        for _ in range(4):  # several polls while the holder is still open: the gap stays
            self.assertEqual(reader.read(), [])
        holder.run("COMMIT")
        self.assertEqual([(r[0], r[1]) for r in reader.read()], [(low, "early")])
        self.assertEqual(reader.read(), [])
        self.assertEqual(s.run(f"SELECT id FROM solid_cable_messages WHERE channel_hash = "
                               f"{channel_hash('chat_1')} AND id > {gem_last_id}"), [])  # lost there
        # A browser holding the higher event's id resumes on another replica.
        self.assertEqual(s.value(f"SELECT sse_gateway_solid_cable_resumable({lit(token)})"), "t")
        resumed = self.solid_cable_reader(self.session(), ["chat_1"], cursor=token)
        self.assertEqual([(r[0], r[1]) for r in resumed.read()], [(low, "early")])
        self.assertEqual(resumed.read(), [])

    def test_a_reader_that_starts_while_a_lower_id_is_uncommitted_gets_it(self):
        holder = self.session()
        holder.run("BEGIN")
        low = self.publish(holder, "a", "early")
        sc_low = self.broadcast(holder, "chat_1", "early")
        s = self.session()
        self.publish(s, "a", "late")
        self.broadcast(s, "chat_1", "late")
        reader = Reader(s, ["a"])  # starts now: "late" is history, "early" is not yet
        sc_reader = self.solid_cable_reader(s, ["chat_1"])
        holder.run("COMMIT")
        self.assertEqual([r[0] for r in reader.read()], [low])
        self.assertEqual([r[0] for r in sc_reader.read()], [sc_low])
        self.assertEqual(reader.read(), [])
        self.assertEqual(sc_reader.read(), [])
        self.assertNotIn(low, self.naive(s, low + 1, ["a"]))  # naive starts at the newest id
        self.assertEqual(self.gem_poll(s, sc_low + 1, "chat_1"), [])  # the gem's does too

    def test_solid_cable_tokens_are_resumable_until_the_gems_trim_passes_them(self):
        s = self.session()
        self.broadcast(s, "chat_1", "zero")
        first = self.broadcast(s, "chat_1", "one")
        reader = self.solid_cable_reader(s, ["chat_1"])
        token = reader.cursor  # seen up to `first`
        second = self.broadcast(s, "chat_1", "two")
        self.broadcast(s, "chat_1", "three")
        ok = f"SELECT sse_gateway_solid_cable_resumable({lit(token)})"
        self.assertEqual(s.value(ok), "t")
        s.run(f"DELETE FROM solid_cable_messages WHERE id < {first}")  # trimmed older rows: fine
        self.assertEqual(s.value(ok), "t")
        s.run(f"DELETE FROM solid_cable_messages WHERE id <= {second}")  # the trim passed it
        self.assertEqual(s.value(ok), "f")
        for bad in ["garbage", "sc;x;", "sc;999999;", "sc;1;2@x", "1:1:"]:
            self.assertEqual(s.value(f"SELECT sse_gateway_solid_cable_resumable({lit(bad)})"), "f", bad)

    def test_solid_cable_gaps_of_rolled_back_inserts_close(self):
        s = self.session()
        reader = self.solid_cable_reader(s, ["chat_1"])
        s.run("BEGIN")
        self.broadcast(s, "chat_1", "never")
        s.run("ROLLBACK")
        kept = self.broadcast(s, "chat_1", "kept")
        self.assertEqual([r[0] for r in reader.read()], [kept])
        self.assertIn("@", reader.cursor)  # the rolled-back id is a gap for now
        for _ in range(3):
            reader.read()
        self.assertTrue(reader.cursor.endswith(";"), reader.cursor)  # closed
        self.assertEqual(reader.read(), [])

    def test_solid_cable_one_mib_payloads(self):
        s = self.session()
        reader = self.solid_cable_reader(s, ["chat_1"])
        s.run(f"INSERT INTO solid_cable_messages (created_at, channel, payload, channel_hash) VALUES "
              f"(now()::timestamp, 'chat_1', convert_to(repeat('y', {MIB}), 'UTF8'), {channel_hash('chat_1')})")
        rows = reader.read()
        self.assertEqual([len(r[1]) for r in rows], [MIB])


if __name__ == "__main__":
    unittest.main()
