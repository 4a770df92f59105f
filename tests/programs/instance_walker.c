// instance_walker.c — the target of tests/scripts/check_instance.py: a member of an instance. It
// touches every page of a region of PAGES pages (far more than its share of the instance's
// pool), says "ready", then obeys one command per line on stdin:
//   go MS   walk the region for MS milliseconds, one access per page in turn (each a remote
//           fault), and print "pages_per_s N"
//   fork    fork a child that stays in the instance until "reap"; print "child PID"
//   reap    end that child and wait for it; print "reaped STATUS"
// At end of input it checks every page and exits 0 if all hold what it wrote.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kPage = 4096 };

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char** argv) {
    const size_t pages = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
    if (pages == 0) {
        fprintf(stderr, "usage: instance_walker PAGES\n");
        return 2;
    }
    unsigned char* region = malloc(pages * kPage);
    if (!region) return 1;
    // visits[i]: how often page i was written; page i holds it (mod 256) in its first byte.
    unsigned long* visits = calloc(pages, sizeof *visits);
    if (!visits) return 1;
    for (size_t i = 0; i < pages; ++i) region[i * kPage] = (unsigned char)++visits[i];
    printf("ready\n");
    fflush(stdout);
    size_t next = 0;
    pid_t child = -1;
    int hold[2] = {-1, -1};  // the child waits for the end of this pipe
    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "go ", 3) == 0) {
            const uint64_t ms = strtoull(line + 3, NULL, 10);
            const uint64_t t0 = now_ns(), end = t0 + ms * 1000000u;
            uint64_t walked = 0, t = t0;
            while (t < end) {
                for (int k = 0; k < 16; ++k, ++walked) {
                    region[next * kPage] = (unsigned char)++visits[next];
                    if (++next == pages) next = 0;
                }
                t = now_ns();
            }
            printf("pages_per_s %.0f\n", walked * 1e9 / (double)(t - t0));
        } else if (strncmp(line, "fork", 4) == 0 && child < 0) {
            if (pipe(hold) != 0) return 1;
            fflush(stdout);
            child = fork();
            if (child < 0) return 1;
            if (child == 0) {  // the child checks its inherited data, then stays until the pipe ends
                close(hold[1]);
                size_t wrong = 0;
                for (size_t i = 0; i < pages; ++i) wrong += region[i * kPage] != (unsigned char)visits[i];
                char c;
                while (read(hold[0], &c, 1) > 0) {
                }
                exit(wrong ? 1 : 0);
            }
            close(hold[0]);
            printf("child %d\n", (int)child);
        } else if (strncmp(line, "reap", 4) == 0 && child > 0) {
            close(hold[1]);
            int status = 0;
            waitpid(child, &status, 0);
            child = -1;
            printf("reaped %d\n", status);
        } else {
            fprintf(stderr, "instance_walker: unknown command: %s", line);
            return 2;
        }
        fflush(stdout);
    }
    size_t wrong = 0;
    for (size_t i = 0; i < pages; ++i) wrong += region[i * kPage] != (unsigned char)visits[i];
    printf("instance_walker: %zu wrong pages\n", wrong);
    return wrong ? 1 : 0;
}
