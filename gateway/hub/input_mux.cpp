#include "hub/input_mux.hpp"

#include <stdexcept>

namespace gw::hub {

// A route's view of the shared input: everything goes through the mux.
class input_mux::port final : public event_input {
public:
    port(input_mux& mux, std::size_t index) : mux_(mux), index_(index) {}

    void start(receiver& r) override { mux_.start(*this, r); }
    void stop() override { mux_.stop(*this); }
    bool listen(const std::string& channel) override { return mux_.listen(index_, channel); }
    void unlisten(const std::string& channel) override { mux_.unlisten(index_, channel); }
    bool up() const override { return mux_.real_.up(); }
    bool settled() const override { return mux_.real_.settled(); }
    void snapshot(std::size_t query, const std::string& user, snapshot_callback done) override {
        mux_.real_.snapshot(query, user, std::move(done));
    }

    enum class state { idle, started, stopped };
    state state_ = state::idle;
    receiver* receiver_ = nullptr;

private:
    input_mux& mux_;
    std::size_t index_;
};

input_mux::input_mux(net::io_context& ioc, event_input& real) : ioc_(ioc), real_(real) {}

input_mux::~input_mux() = default;

event_input& input_mux::add_port() {
    if (real_started_) throw std::logic_error("input_mux: ports are added before any starts");
    ports_.push_back(std::make_unique<port>(*this, ports_.size()));
    notes_.resize(ports_.size());
    changes_.resize(ports_.size());
    return *ports_.back();
}

input_mux::receiver* input_mux::receiver_of(std::size_t p) const {
    const port& pt = *ports_[p];
    return pt.state_ == port::state::started ? pt.receiver_ : nullptr;
}

void input_mux::start(port& p, receiver& r) {
    assert_on_thread(ioc_);
    if (p.state_ != port::state::idle) return;
    p.receiver_ = &r;
    p.state_ = port::state::started;
    ++running_;
    if (real_started_) return;
    real_started_ = true;
    real_.start(*this);
}

void input_mux::stop(port& p) {
    // Like the real input's stop(), callable from any point on the thread.
    if (p.state_ != port::state::started) return;
    p.state_ = port::state::stopped;
    if (--running_ == 0) real_.stop();
}

bool input_mux::listen(std::size_t p, const std::string& name) {
    assert_on_thread(ioc_);
    auto [it, added] = channels_.try_emplace(name);
    channel& c = it->second;
    if (added) c.flags.assign(ports_.size(), 0);
    if (c.flags[p] & wants) return c.stable && !(c.flags[p] & leaving);
    c.flags[p] |= wants;
    if (c.wanters++ == 0) {
        c.stable = real_.listen(name);
        if (c.stable) {
            // The real input took back an UNLISTEN it had not sent: the ports
            // waiting for its report would wait for ever. They hear it from us.
            for (std::size_t q = 0; q < c.flags.size(); ++q)
                if (c.flags[q] & leaving) post_unlisten(q, name);
        }
    }
    // A port still owed its {name, false} hears it first, then {name, true}.
    return c.stable && !(c.flags[p] & leaving);
}

void input_mux::unlisten(std::size_t p, const std::string& name) {
    assert_on_thread(ioc_);
    auto it = channels_.find(name);
    if (it == channels_.end() || !(it->second.flags[p] & wants)) return;
    channel& c = it->second;
    c.flags[p] = static_cast<std::uint8_t>((c.flags[p] & ~wants) | leaving);
    if (--c.wanters > 0) return post_unlisten(p, name);  // the others keep it listened
    real_.unlisten(name);
    // A LISTEN never confirmed may be dropped unsent, and then nothing is
    // reported: the port hears its {name, false} from us. Otherwise the real
    // input's report is the port's.
    if (!c.stable) post_unlisten(p, name);
    c.stable = false;
}

void input_mux::post_unlisten(std::size_t p, const std::string& name) {
    net::post(ioc_, [this, p, name] { deliver_unlisten(p, name); });
}

void input_mux::deliver_unlisten(std::size_t p, const std::string& name) {
    auto it = channels_.find(name);
    // Heard already (from the real input, or an earlier post), or lost with the connection.
    if (it == channels_.end() || !(it->second.flags[p] & leaving)) return;
    channel& c = it->second;
    c.flags[p] &= static_cast<std::uint8_t>(~leaving);
    listen_change out[2] = {{name, false}, {name, true}};
    // Wanted again meanwhile, and listened: this port's listen() said false, so it hears the LISTEN too.
    const std::size_t n = (c.flags[p] & wants) && c.stable ? 2 : 1;
    forget_if_idle(it);
    if (receiver* r = receiver_of(p)) r->on_listen_changes({out, n});
}

void input_mux::forget_if_idle(channel_map::iterator it) {
    const channel& c = it->second;
    if (c.wanters != 0) return;
    for (auto f : c.flags)
        if (f & leaving) return;
    channels_.erase(it);
}

void input_mux::on_notifications(std::span<const notification> batch) {
    assert_on_thread(ioc_);
    // The hot path: one route gets the real input's batch as it is.
    if (ports_.size() == 1) {
        if (receiver* r = receiver_of(0)) r->on_notifications(batch);
        return;
    }
    for (auto& v : notes_) v.clear();
    for (const auto& n : batch) {
        auto it = channels_.find(n.channel);
        if (it == channels_.end()) continue;
        const auto& flags = it->second.flags;
        for (std::size_t p = 0; p < flags.size(); ++p)
            if (flags[p] & wants) notes_[p].push_back(n);
    }
    for (std::size_t p = 0; p < ports_.size(); ++p)
        if (!notes_[p].empty())
            if (receiver* r = receiver_of(p)) r->on_notifications(notes_[p]);
}

void input_mux::on_listen_changes(std::span<const listen_change> changes) {
    assert_on_thread(ioc_);
    for (auto& v : changes_) v.clear();
    for (const auto& ch : changes) {
        auto it = channels_.find(ch.channel);
        if (it == channels_.end()) continue;  // nobody wants it or waits for its report
        channel& c = it->second;
        if (ch.listened) {
            // Listened while wanted: no UNLISTEN was asked since, so it stays. Not
            // wanted any more: the UNLISTEN asked for is still to come.
            c.stable = c.wanters > 0;
            for (std::size_t p = 0; p < c.flags.size(); ++p) {
                // The real {ch, false} a leaving port waits for will not come while
                // others want the channel: it hears its own first.
                if (c.stable && (c.flags[p] & leaving)) {
                    c.flags[p] &= static_cast<std::uint8_t>(~leaving);
                    changes_[p].push_back({ch.channel, false});
                }
                if (c.flags[p] & wants) changes_[p].push_back({ch.channel, true});
            }
        } else {
            // Still wanted: the real input listens again and reports it.
            c.stable = false;
            for (std::size_t p = 0; p < c.flags.size(); ++p) {
                if (!(c.flags[p] & (wants | leaving))) continue;
                c.flags[p] &= static_cast<std::uint8_t>(~leaving);
                changes_[p].push_back({ch.channel, false});
            }
        }
        forget_if_idle(it);
    }
    for (std::size_t p = 0; p < ports_.size(); ++p)
        if (!changes_[p].empty())
            if (receiver* r = receiver_of(p)) r->on_listen_changes(changes_[p]);
}

void input_mux::on_down() {
    assert_on_thread(ioc_);
    // Nothing is listened any more: every port starts over from on_down, and
    // every wanted channel is reported again once the real input has it back.
    for (auto it = channels_.begin(); it != channels_.end();) {
        channel& c = it->second;
        c.stable = false;
        for (auto& f : c.flags) f &= static_cast<std::uint8_t>(~leaving);
        if (c.wanters == 0)
            it = channels_.erase(it);
        else
            ++it;
    }
    for (std::size_t p = 0; p < ports_.size(); ++p)
        if (receiver* r = receiver_of(p)) r->on_down();
}

}  // namespace gw::hub
