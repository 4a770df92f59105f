// fault_handler_instance.cpp — the handler's side of instances (instance.h): attaching the pool
// and the links to the instance's segment, applying the instance's link settings when a member
// changes them (dime ctl set), and the periodic tick. Handler thread, under the rules of the
// fault path: the segment is read and written with atomics only; the tick's reclaim makes one
// fcntl per other member.
#include "fault_handler.h"

namespace dime {

void FaultHandler::attach_instance(Instance* in) {
    if (!running_) return attach_now(in);
    range_ = {};
    range_.instance = in;
    request(Request::kAttachInstance);
}

void FaultHandler::attach_now(Instance* in) {
    instance_ = in;
    pool_.share(in);
    for (int t = 0; t < kMaxTiers; ++t) links_[t].share(in ? in->link_free_at(t) : nullptr);
    if (!in) return;
    apply_instance_settings();
    next_instance_tick_ = 0;  // at once: the new member may hold more than its share
    evict_to_capacity();
}

void FaultHandler::apply_instance_settings() {
    instance_generation_ = instance_->settings_generation();
    for (int t = 0; t < kMaxTiers; ++t) {
        const uint64_t bandwidth = instance_->bandwidth_bps(t);
        if (bandwidth != 0)  // 0: no such tier, or a local one (it never fetches)
            links_[t].configure(instance_->latency_ns(t), bandwidth, cfg_.page_size);
    }
}

void FaultHandler::instance_tick(uint64_t now) {
    next_instance_tick_ = now + kInstanceTickNs;
    instance_->reclaim_dead();
    if (instance_settings_changed()) apply_instance_settings();
    evict_to_capacity();
}

}  // namespace dime
