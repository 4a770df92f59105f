// main.cpp — the dime-sim program: `dime sim` as a stand-alone command (see sim_main.h).
#include "sim_main.h"

int main(int argc, char** argv) { return dime::lab::sim_main(argc, argv); }
