#pragma once
// RAII owners for libpq objects. Thread rule: an owner is used by one thread.
#include <libpq-fe.h>

#include <memory>

namespace gw::pg {

struct conn_deleter {
    void operator()(PGconn* c) const { PQfinish(c); }
};
struct result_deleter {
    void operator()(PGresult* r) const { PQclear(r); }
};
struct notify_deleter {
    void operator()(PGnotify* n) const { PQfreemem(n); }
};

using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;
using result_ptr = std::unique_ptr<PGresult, result_deleter>;
using notify_ptr = std::unique_ptr<PGnotify, notify_deleter>;

}  // namespace gw::pg
