// sim_main.h — `dime sim`: the policy lab's command line (replay a trace, print faults and
// hit ratio beside OPT and exact LRU). Offline, single-threaded.
#pragma once

namespace dime::lab {

// argv[0] is the command's own name ("sim" or "dime-sim"); the options follow. Prints the
// result on stdout; a bad command line or trace prints one line "dime: ..." on stderr and
// returns 2; a misbehaving policy returns 1. See sim_help() or docs/policies.md.
int sim_main(int argc, char** argv);
// The help text of `dime sim` (ends with a newline).
const char* sim_help();

}  // namespace dime::lab
