/* deny_uffd.c — runs a program where userfaultfd cannot be opened (deny_uffd.h's seccomp filter),
 * for the tests of backend: auto and of the message a forbidden userfaultfd gives.
 * Usage: deny_uffd PROGRAM [ARGS...]  (exit 126 if the filter cannot be installed, 127 if PROGRAM
 * cannot be run) */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "deny_uffd.h"

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: deny_uffd PROGRAM [ARGS...]\n");
        return 2;
    }
    if (deny_userfaultfd() != 0) {
        fprintf(stderr, "deny_uffd: cannot install the seccomp filter: %s\n", strerror(errno));
        return 126;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "deny_uffd: cannot run %s: %s\n", argv[1], strerror(errno));
    return 127;
}
