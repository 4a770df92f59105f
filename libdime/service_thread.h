// service_thread.h — what DiME's background service threads (the control server, the time
// series writer) share: each sleeps in poll() on its own eventfd besides its work, and is stopped
// by a write to that eventfd followed by a join.
#pragma once

#include <pthread.h>
#include <unistd.h>

#include <cstdint>

namespace dime {

// Wakes the thread sleeping on `wake_fd` (an eventfd) and waits for it to return.
inline void wake_and_join(int wake_fd, pthread_t thread) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof one);  // an eventfd write cannot fail here
    pthread_join(thread, nullptr);
}

}  // namespace dime
