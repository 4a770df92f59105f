# check_sim.cmake — run by ctest with `cmake -DSIM=<dime-sim> -DTRACES=<dir> -DLIFO=<plugin> -P`:
# dime-sim's figures on Belady's string (hand-computed: 3 pages give FIFO 9, OPT 7, LRU 10
# faults; 4 pages give FIFO 10, OPT 6, LRU 8; LIFO keeps 1 2 local and faults 8 times with 3
# pages), its JSON object, and that bad input exits 2 with one line naming the culprit.
if(NOT SIM OR NOT TRACES OR NOT LIFO)
  message(FATAL_ERROR "usage: cmake -DSIM=<dime-sim> -DTRACES=<dir> -DLIFO=<plugin .so> -P check_sim.cmake")
endif()
set(belady ${TRACES}/belady.txt)

function(expect_json args pattern)
  execute_process(COMMAND ${SIM} --trace ${belady} ${args} --json
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT err STREQUAL "")
    message(FATAL_ERROR "dime-sim ${args}: exit ${rc}, stderr '${err}'")
  endif()
  string(STRIP "${out}" out)
  if(out MATCHES "\n" OR NOT out MATCHES "^{.*}$" OR NOT out MATCHES "${pattern}")
    message(FATAL_ERROR "dime-sim ${args} --json printed '${out}', expected one object matching '${pattern}'")
  endif()
  message("ok: ${args}: ${out}")
endfunction()

expect_json("--policy;fifo;--local-pages;3"
  "\"accesses\":12,\"distinct_pages\":5,\"faults\":9,\"hit_ratio\":0.250000,\"opt_faults\":7,\"opt_hit_ratio\":0.416667,\"lru_faults\":10,")
expect_json("--policy;fifo;--local-pages;4" "\"faults\":10,.*\"opt_faults\":6,.*\"lru_faults\":8,")
# Without access information ARC replaces like FIFO (see test_sim.cpp).
expect_json("--policy;arc;--local-pages;3;--access-fraction;0" "\"policy\":\"arc\",.*\"access_fraction\":0,.*\"faults\":9,")
expect_json("--policy=plugin;--policy-plugin=${LIFO};--local-pages=3" "\"policy\":\"lifo\",.*\"faults\":8,")
# 16 KiB pages hold four 4 KiB pages: 1..3 are page 0, 4 and 5 page 1, so the string becomes
# 0 0 0 1 0 0 1 0 0 0 1 1 and a one-page pool faults on the first access and on each of the 5 changes.
expect_json("--policy;fifo;--local-pages;1;--page-size;16KiB" "\"distinct_pages\":2,\"faults\":6,.*\"opt_faults\":6,")

# The text form names the policy and both yardsticks.
execute_process(COMMAND ${SIM} --trace ${belady} --policy lru2q --local-pages 3 RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "lru2q +[0-9]+ faults" OR NOT out MATCHES "OPT +7 faults" OR NOT out MATCHES "LRU +10 faults")
  message(FATAL_ERROR "dime-sim text output:\n${out}")
endif()

# Bad input: exit 2, one line on stderr starting "dime: " and containing the culprit.
function(expect_refusal fragment)
  execute_process(COMMAND ${SIM} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(STRIP "${err}" line)
  string(FIND "${line}" "${fragment}" at)
  if(NOT rc EQUAL 2 OR line MATCHES "\n" OR NOT line MATCHES "^dime: " OR at EQUAL -1 OR NOT out STREQUAL "")
    message(FATAL_ERROR "dime-sim ${ARGN}: exit ${rc}, stderr '${err}', stdout '${out}'; expected exit 2 and one line with '${fragment}'")
  endif()
  message("ok: refused: ${line}")
endfunction()

expect_refusal("bad_line.txt:4: 'three' is not a page number" --trace ${TRACES}/bad_line.txt --local-pages 3)
expect_refusal("cannot read '${TRACES}/missing.txt'" --trace ${TRACES}/missing.txt --local-pages 3)
expect_refusal("--local-pages: '0'" --trace ${belady} --local-pages 0)
expect_refusal("--local-pages N is required" --trace ${belady})
expect_refusal("--trace FILE is required" --local-pages 3)
expect_refusal("unknown policy 'lru'" --trace ${belady} --local-pages 3 --policy lru)
expect_refusal("--page-size: '3000'" --trace ${belady} --local-pages 3 --page-size 3000)
expect_refusal("policy_plugin: cannot load '/nonexistent.so'" --trace ${belady} --local-pages 3 --policy plugin --policy-plugin /nonexistent.so)
expect_refusal("unknown option '--frobnicate'" --frobnicate)
expect_refusal("--evict-batch: '0'" --trace ${belady} --local-pages 3 --evict-batch 0)
expect_refusal("--access-fraction: '1.5'" --trace ${belady} --local-pages 3 --access-fraction 1.5)
