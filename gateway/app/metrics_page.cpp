#include "app/metrics_page.hpp"

#include <array>
#include <functional>

namespace gw::app {

namespace {

using metrics::exposition;

// One family with a sample per route, labelled route="<path>".
void per_route(exposition& m, std::string_view name, std::string_view type, std::string_view help,
               const std::vector<route_metrics>& routes, const std::function<double(const route_metrics&)>& value) {
    m.header(name, type, help);
    for (const auto& r : routes) m.sample(name, {{"route", r.path}}, value(r));
}

}  // namespace

std::string metrics_page(const config& cfg, const web::shared_state& state, const std::vector<route_metrics>& routes,
                         const pg::listener& listener) {
    exposition m;
    const auto& pg = listener.stats();
    const auto counter = [&](std::string_view name, std::string_view help, auto get) {
        per_route(m, name, "counter", help, routes,
                  [&](const route_metrics& r) { return static_cast<double>(get(r)); });
    };
    m.header("notify_to_write_seconds", "histogram", "From reading a NOTIFY to queueing it on its streams' sockets.");
    for (const auto& r : routes) {
        metrics::histogram::snapshot latency;
        r.registry.stats().notify_to_write.merge_into(latency);
        m.histogram_samples("notify_to_write_seconds", latency, {"route", r.path});
    }
    m.header("tick_seconds", "histogram",
             "Event-loop time of one tick step (heartbeats, deadlines of a few streams); events wait behind it.");
    for (const auto& r : routes) {
        metrics::histogram::snapshot ticks;
        r.registry.stats().tick.merge_into(ticks);
        m.histogram_samples("tick_seconds", ticks, {"route", r.path});
    }
    m.gauge("connections", "Open client connections.", state.connections.value());
    m.gauge("max_connections", "--max-connections: connections beyond it get 503 (ops endpoints excepted).",
            static_cast<std::int64_t>(cfg.max_connections));
    m.counter("header_timeouts_total",
              "Connections cut without an answer for not completing a request head within --header-timeout "
              "(slow or idle clients, idle keep-alive connections included).",
              state.header_timeouts.value());
    per_route(m, "streams", "gauge", "Open event streams by route (pending or live).", routes,
              [](const route_metrics& r) { return static_cast<double>(r.registry.stats().streams.value()); });
    counter("streams_opened_total", "Streams that went live.",
            [](const route_metrics& r) { return r.registry.stats().streams_opened.value(); });
    m.gauge("channels_listened", "Channels the LISTEN connection listens on.", pg.channels.value());
    m.counter("notifications_total", "NOTIFY messages received.", pg.notifications.value());
    counter("notifications_unrouted_total", "NOTIFY messages for channels no stream of the route wanted any more.",
            [](const route_metrics& r) { return r.router.stats().unrouted.value(); });
    counter("events_written_total", "Events queued to live streams.",
            [](const route_metrics& r) { return r.registry.stats().events_written.value(); });
    counter("slow_consumer_closes_total", "Streams closed for exceeding their output queue.",
            [](const route_metrics& r) {
                return r.registry.stats().closes[hub::index_of(hub::close_reason::slow_consumer)].value();
            });
    m.header("stream_closes_total", "counter", "Streams closed, by reason.");
    for (const auto& r : routes)
        for (std::size_t i = 0; i < hub::close_reason_count; ++i)
            m.sample("stream_closes_total",
                     {{"reason", hub::to_string(static_cast<hub::close_reason>(i))}, {"route", r.path}},
                     static_cast<double>(r.registry.stats().closes[i].value()));
    m.gauge("pg_connected", "1 while the LISTEN connection is up.", pg.up.value());
    m.counter("pg_reconnects_total", "LISTEN connection re-established after a loss.", pg.reconnects.value());
    m.counter("pg_failures_total", "LISTEN connection attempts or connections that failed.", pg.failures.value());
    counter("replays_total", "Reconnects answered from the replay buffer (Last-Event-ID).",
            [](const route_metrics& r) { return r.router.stats().replays.value(); });
    counter("snapshots_total", "Snapshot events sent (on subscribe, or catching a channel up).",
            [](const route_metrics& r) { return r.router.stats().snapshots.value(); });
    counter("catch_ups_total", "Channels compared with the snapshot after the LISTEN connection came back.",
            [](const route_metrics& r) { return r.router.stats().catch_ups.value(); });
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
    // With one route, the refusal families keep their one `reason` label, as
    // before routes: dashboards and alerts written for them keep working.
    const bool label_route = routes.size() > 1;
    for (const bool auth : {true, false}) {
        const char* name = auth ? "auth_failures_total" : "refusals_total";
        m.header(name, "counter",
                 auth ? "Stream requests refused by identity or signed-name checks, by reason (and route, with "
                        "several)."
                      : "Requests refused for other reasons (limits, bad input), by reason (and route, with several, "
                        "when a route took the request).");
        for (const auto& [key, n] : refusals) {
            const auto& [kind, reason, route] = key;
            if ((kind == "401" || kind == "403") == auth)
                m.sample(name, {{"reason", reason}, {"route", label_route ? std::string_view(route) : ""}},
                         static_cast<double>(n));
        }
    }
    state.auth.write_metrics(m);
    return m.text();
}

}  // namespace gw::app
