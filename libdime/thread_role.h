// thread_role.h — marks threads that belong to DiME itself (the fault handler, calibration).
// The preload shim routes every allocation made on such a thread, or while a DiME entry point
// is running (`InternalScope`), to libc's allocator, so DiME's own memory never lands in
// emulated memory and the handler can never fault on a page only it could resolve.
#pragma once

namespace dime {

// Initial-exec TLS: readable from malloc before the dynamic loader's TLS machinery is used.
inline thread_local bool t_internal __attribute__((tls_model("initial-exec"))) = false;

// RAII: the current thread is doing DiME work (nests).
class InternalScope {
public:
    InternalScope() : saved_(t_internal) { t_internal = true; }
    ~InternalScope() { t_internal = saved_; }
    InternalScope(const InternalScope&) = delete;
    InternalScope& operator=(const InternalScope&) = delete;

private:
    bool saved_;
};

}  // namespace dime
