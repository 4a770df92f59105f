// preload.h — what the parts of libdime.so share: the start-up glue (dime_preload.cpp) hands the
// running engine to the mmap hooks (mmap_hooks.cpp). Application threads.
#pragma once

namespace dime {
class Engine;
}

namespace dime::preload {

// From now on the mmap family is offered to `engine` (never destroyed). Called once, at start-up.
void enable_mmap_hooks(Engine* engine);

}  // namespace dime::preload
