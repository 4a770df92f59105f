# mmap.cmake — programs with their own allocator over mmap under libdime.so: an arena of mmap'd
# chunks at 10x the local pool, and munmap/mremap/madvise/mprotect of emulated memory followed by
# reuse. Besides run_preload.cmake's checks (exit 0, faults, re-fetches and evictions > 0), the
# report's "memory" counters named in MEMORY must be > 0 and the re-fetches at least MIN_REFETCH,
# so a run whose mmaps silently went to plain memory fails. Included by tests/CMakeLists.txt.
foreach(prog preload_mmap_arena preload_mmap_ops)
  add_executable(${prog} programs/${prog}.c)
endforeach()

# As in preload.cmake: 256 pages = 1 MiB of local memory, no injected delay.
set(DIME_MMAP_POOL 256)
set(DIME_MMAP_OPTIONS "latency_ns=0 bandwidth_bps=1000000000000")

# dime_mmap_test(<program> MEMORY counter,... MIN_REFETCH n [ARGS a,b] [NAME suffix POOL units
# PAGE_SIZE bytes OPTIONS "key=value ..."])
function(dime_mmap_test prog)
  cmake_parse_arguments(arg "" "ARGS;MEMORY;MIN_REFETCH;NAME;POOL;PAGE_SIZE;OPTIONS" "" ${ARGN})
  set(pool ${DIME_MMAP_POOL})
  if(arg_POOL)
    set(pool ${arg_POOL})
  endif()
  set(name ${prog})
  if(arg_NAME)
    set(name ${prog}.${arg_NAME})
  endif()
  add_test(NAME mmap.${name}
    COMMAND ${CMAKE_COMMAND}
      -DPROGRAM=$<TARGET_FILE:${prog}>
      -DPRELOAD=$<TARGET_FILE:dime_preload>
      -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/mmap.${name}.json
      "-DOPTIONS=${DIME_MMAP_OPTIONS} ${arg_OPTIONS} local_npages=${pool}"
      -DPOOL=${pool}
      -DPAGE_SIZE=${arg_PAGE_SIZE}
      -DARGS=${arg_ARGS}
      -DMEMORY=${arg_MEMORY}
      -DMIN_REFETCH=${arg_MIN_REFETCH}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_preload_mmap.cmake)
  set_tests_properties(mmap.${name} PROPERTIES TIMEOUT 300 SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
endfunction()

# 10 chunks of 1 MiB = 2560 pages, each read at least three times with a pool of 256 pages:
# thousands of re-fetches that only the mmap'd arena can cause (the program mallocs almost nothing).
dime_mmap_test(preload_mmap_arena MEMORY mmaps,munmaps,mremaps MIN_REFETCH 4000)
dime_mmap_test(preload_mmap_ops MEMORY mmaps,munmaps,mremaps,discards,detaches MIN_REFETCH 1000)
# The same operations on 64 KiB units (16 units = 1 MiB of local memory): partial munmap, madvise
# and mprotect of units (detaches), mremap of whole units.
dime_mmap_test(preload_mmap_ops NAME 64KiB POOL 16 PAGE_SIZE 65536 OPTIONS "page_size=64KiB"
               MEMORY mmaps,munmaps,mremaps,discards,detaches MIN_REFETCH 200)
# Both again on the mprotect backend.
dime_mmap_test(preload_mmap_arena NAME mprotect OPTIONS "backend=mprotect" MEMORY mmaps,munmaps,mremaps
               MIN_REFETCH 4000)
dime_mmap_test(preload_mmap_ops NAME mprotect OPTIONS "backend=mprotect"
               MEMORY mmaps,munmaps,mremaps,discards,detaches MIN_REFETCH 1000)
