// preload.h — what the parts of libdime.so share: the start-up glue (dime_preload.cpp) hands the
// running engine to the mmap hooks (mmap_hooks.cpp) and the system-call hooks
// (kernel_access_hooks.cpp). Application threads.
#pragma once

namespace dime {
class Engine;
}

namespace dime::preload {

// From now on the mmap family is offered to `engine` (never destroyed). Called once, at start-up.
void enable_mmap_hooks(Engine* engine);
// The system-call hooks' real functions looked up; with the mprotect backend, from now on they
// make their buffers resident through `engine` (kernel_access_hooks.cpp). Once, at start-up.
void enable_kernel_access_hooks(Engine* engine);
// The signal hooks' real functions looked up (signal_hooks.cpp). Once, at start-up.
void resolve_signal_hooks();

}  // namespace dime::preload
