// map_count.h — the kernel's limit on memory mappings (vm.max_map_count) and how many this process
// uses now: the mprotect backend turns every change of protection between neighbouring pages into
// a mapping boundary. Start-up only (reads /proc); not for the fault path.
#pragma once

namespace dime::vm {

// vm.max_map_count, or -1 if /proc/sys/vm/max_map_count cannot be read.
long max_map_count();
// The mappings (VMAs) of this process now: the lines of /proc/self/maps, or -1.
long mappings_in_use();

}  // namespace dime::vm
