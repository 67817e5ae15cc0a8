#include "app/metrics_page.hpp"

#include <array>

namespace gw::app {

std::string metrics_page(const config& cfg, const web::shared_state& state, const hub::router& router,
                         const pg::listener& listener, const hub::stream_registry& registry) {
    metrics::exposition m;
    const auto& reg = registry.stats();
    const std::int64_t streams = reg.streams.value();
    const std::uint64_t written = reg.events_written.value(), opened = reg.streams_opened.value();
    std::array<std::uint64_t, hub::close_reason_count> closes{};
    for (std::size_t i = 0; i < closes.size(); ++i) closes[i] = reg.closes[i].value();
    const auto slow = closes[hub::index_of(hub::close_reason::slow_consumer)];
    const auto& pg = listener.stats();
    const auto& hub = router.stats();
    metrics::histogram::snapshot latency;
    reg.notify_to_write.merge_into(latency);
    m.histogram("notify_to_write_seconds", "From reading a NOTIFY to queueing it on its streams' sockets.", latency);
    metrics::histogram::snapshot ticks;
    reg.tick.merge_into(ticks);
    m.histogram("tick_seconds",
                "Event-loop time of one tick step (heartbeats, deadlines of a few streams); events wait behind it.",
                ticks);
    m.gauge("connections", "Open client connections.", state.connections.value());
    m.gauge("max_connections", "--max-connections: connections beyond it get 503 (ops endpoints excepted).",
            static_cast<std::int64_t>(cfg.max_connections));
    m.counter("header_timeouts_total",
              "Connections cut without an answer for not completing a request head within --header-timeout "
              "(slow or idle clients, idle keep-alive connections included).",
              state.header_timeouts.value());
    m.header("streams", "gauge", "Open event streams by route (pending or live).");
    m.sample("streams", "route", cfg.stream_path, static_cast<double>(streams));
    m.counter("streams_opened_total", "Streams that went live.", opened);
    m.gauge("channels_listened", "Channels the LISTEN connection listens on.", pg.channels.value());
    m.counter("notifications_total", "NOTIFY messages received.", pg.notifications.value());
    m.counter("notifications_unrouted_total", "NOTIFY messages for channels no stream wanted any more.",
              hub.unrouted.value());
    m.counter("events_written_total", "Events queued to live streams.", written);
    m.counter("slow_consumer_closes_total", "Streams closed for exceeding their output queue.", slow);
    m.header("stream_closes_total", "counter", "Streams closed, by reason.");
    for (std::size_t i = 0; i < closes.size(); ++i)
        m.sample("stream_closes_total", "reason", hub::to_string(static_cast<hub::close_reason>(i)),
                 static_cast<double>(closes[i]));
    m.gauge("pg_connected", "1 while the LISTEN connection is up.", pg.up.value());
    m.counter("pg_reconnects_total", "LISTEN connection re-established after a loss.", pg.reconnects.value());
    m.counter("pg_failures_total", "LISTEN connection attempts or connections that failed.", pg.failures.value());
    m.counter("replays_total", "Reconnects answered from the replay buffer (Last-Event-ID).", hub.replays.value());
    m.counter("snapshots_total", "Snapshot events sent (on subscribe, or catching a channel up).",
              hub.snapshots.value());
    m.counter("catch_ups_total", "Channels compared with the snapshot after the LISTEN connection came back.",
              hub.catch_ups.value());
    if (const auto* q = listener.snapshot_stats()) {
        m.counter("snapshot_queries_total", "Snapshot queries answered.", q->queries.value());
        m.counter("snapshot_failures_total", "Snapshot queries that failed or timed out.", q->failures.value());
        m.counter("snapshot_reconnects_total", "Snapshot connections re-established.", q->reconnects.value());
    }
    if (const auto* q = listener.queue_usage()) {
        m.header("pg_notification_queue_usage", "gauge",
                 "pg_notification_queue_usage() at the last read: the NOTIFY queue's fill, 0 to 1 (NaN before the "
                 "first read). At 1, every NOTIFY fails.");
        m.sample("pg_notification_queue_usage", q->usage());
        m.gauge("pg_notification_queue_usage_up", "1 when the last read of the queue usage worked.", q->up() ? 1 : 0);
        m.counter("pg_notification_queue_usage_failures_total", "Reads of the queue usage that failed.",
                  q->failures().value());
    }
    m.header("ready", "gauge", "1 while /readyz answers 200.");
    m.sample("ready", state.accepting_streams() ? 1.0 : 0.0);
    // Each family's samples must follow its own header, so one pass per family.
    const auto refusals = state.refusals();
    for (const bool auth : {true, false}) {
        const char* name = auth ? "auth_failures_total" : "refusals_total";
        m.header(name, "counter",
                 auth ? "Stream requests refused by identity checks, by reason."
                      : "Requests refused for other reasons (limits, bad input), by reason.");
        for (const auto& [key, n] : refusals)
            if ((key.first == "401" || key.first == "403") == auth)
                m.sample(name, "reason", key.second, static_cast<double>(n));
    }
    state.auth.write_metrics(m);
    return m.text();
}

}  // namespace gw::app
