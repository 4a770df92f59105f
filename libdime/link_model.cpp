// link_model.cpp — propagation overlaps, transmission queues (see link_model.h).
#include "link_model.h"

#include <algorithm>

namespace dime {

void LinkModel::configure(uint64_t latency_ns, uint64_t bandwidth_bps, uint64_t page_bytes) {
    propagation_ns_ = 2 * latency_ns;
    const unsigned __int128 bits = static_cast<unsigned __int128>(page_bytes) * 8 * 1000000000ull;
    transmission_ns_ = static_cast<uint64_t>((bits + bandwidth_bps / 2) / bandwidth_bps);
}

uint64_t LinkModel::occupy(uint64_t earliest) {
    if (!shared_free_at_) {
        link_free_at_ = std::max(earliest, link_free_at_) + transmission_ns_;
        return link_free_at_;
    }
    uint64_t booked = shared_free_at_->load(std::memory_order_relaxed);
    uint64_t end;
    do {
        end = std::max(earliest, booked) + transmission_ns_;
    } while (!shared_free_at_->compare_exchange_weak(booked, end, std::memory_order_relaxed));
    return end;
}

void LinkModel::share(std::atomic<uint64_t>* shared) {
    if (shared_free_at_ && !shared) link_free_at_ = shared_free_at_->load(std::memory_order_relaxed);
    shared_free_at_ = shared;
}

uint64_t LinkModel::book_fetch(uint64_t now) {
    // The request reaches the blade after one latency; the page then waits for the link.
    return occupy(now + propagation_ns_ / 2) + propagation_ns_ / 2;
}

uint64_t LinkModel::book_writeback(uint64_t now) {
    // The page leaves now, or once the link has finished what is booked on it.
    occupy(now);
    return transmission_ns_;
}

}  // namespace dime
