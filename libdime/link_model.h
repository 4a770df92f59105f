// link_model.h — the network between this machine and the memory blade.
//
// A remote fetch costs 2 x latency (request out, page back: propagation, which concurrent
// fetches overlap) plus page_bytes x 8 / bandwidth (transmission, which they share: fetches
// queue for the link). Handler thread only. In an instance (instance.h) the queue is the
// instance's: the time the link is booked until lives in shared memory and every member books
// it with compare-and-swap, so the members' fetches queue behind each other.
#pragma once

#include <atomic>
#include <cstdint>

namespace dime {

class LinkModel {
public:
    void configure(uint64_t latency_ns, uint64_t bandwidth_bps, uint64_t page_bytes);
    // Books one page on the link for a fetch requested at `now`; returns when it completes.
    uint64_t book_fetch(uint64_t now);
    // Books one page's write-back (an evicted dirty page sent to the blade at `now`): it occupies
    // the link for one transmission, so fetches booked later queue behind it; nobody waits for
    // it to arrive. Returns the link time booked (the transmission).
    uint64_t book_writeback(uint64_t now);
    uint64_t idle_fetch_ns() const { return propagation_ns_ + transmission_ns_; }
    // Books on `shared` (an instance's link: CLOCK_MONOTONIC ns, common to processes) from now
    // on; nullptr: on this process's own link again, from where the shared one stands.
    void share(std::atomic<uint64_t>* shared);

private:
    // Moves the link's booked-until time to `start` + one transmission, start = max(earliest,
    // booked-until); returns the new booked-until time.
    uint64_t occupy(uint64_t earliest);

    uint64_t propagation_ns_ = 0;   // round trip: 2 x one-way latency
    uint64_t transmission_ns_ = 0;  // one page on the wire
    uint64_t link_free_at_ = 0;     // when the last booked transmission ends (a private link)
    std::atomic<uint64_t>* shared_free_at_ = nullptr;  // the same, in an instance's segment
};

}  // namespace dime
