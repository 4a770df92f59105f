/* hostile_exec.c — a program under libdime.so that execs without closing anything, from a thread
 * other than main, while its other threads fault on an evicted heap (tests/hostile.cmake):
 *   keep      exec of itself with LD_PRELOAD kept: the new image has its own engine;
 *   drop      exec with LD_PRELOAD removed: the new image runs without DiME;
 *   fork      a worker forks (the child runs under its own engine) and the child execs, while the
 *             parent goes on and reports at its exit.
 * Before it execs, the program leaves open a pipe and /dev/null without O_CLOEXEC (the new image
 * must inherit them, and the pipe must still work) and a file with O_CLOEXEC (it must not). The new
 * image lists /proc/self/fd: what the caller of the test left open, the three inherited ones, and,
 * with the preload, exactly one userfaultfd, two eventfds and one listening socket of its own engine
 * (lifecycle.h); without it, none. Then it faults on a heap of its own.
 * Usage: hostile_exec keep|drop|fork
 *        hostile_exec --image ENGINES OTHERS FD...   (the exec'd image: ENGINES 0 or 1, OTHERS the
 *        descriptors above 2 that are not DiME's it must hold, FD... those it must find working) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "lifecycle.h"

extern char** environ;

enum { kWorkers = 3 };
enum { kPipeRead = 40, kPipeWrite = 41, kDevNull = 42, kCloexec = 43 };

static atomic_int g_rounds[kWorkers];
static struct heap g_heaps[kWorkers];
static const char* g_mode;
static char g_self[4096];
static char g_others[16];

static int image(int engines, int others, int argc, char** argv) {
    struct fd_counts c;
    if (!count_fds(&c, 1)) return 1;
    /* The PM QoS request is held only where /dev/cpu_dma_latency can be opened (root). */
    int ok = c.uffd == engines && c.eventfd == 2 * engines && c.listening == engines && c.qos <= engines &&
             c.other == others;
    if (!ok)
        fprintf(stderr, "FAIL: the exec'd image %d holds %d userfaultfds, %d eventfds, %d listening sockets, %d others; "
                        "expected %d, %d, %d, %d\n", (int)getpid(), c.uffd, c.eventfd, c.listening, c.other, engines,
                2 * engines, engines, others);
    for (int i = 0; i < argc; ++i)
        if (fcntl(atoi(argv[i]), F_GETFD) < 0) {
            fprintf(stderr, "FAIL: inherited descriptor %s is missing\n", argv[i]);
            ok = 0;
        }
    if (fcntl(kCloexec, F_GETFD) >= 0) {
        fprintf(stderr, "FAIL: descriptor %d (O_CLOEXEC) survived exec\n", kCloexec);
        ok = 0;
    }
    char byte = 0;
    if (write(kPipeWrite, "x", 1) != 1 || read(kPipeRead, &byte, 1) != 1 || byte != 'x') {
        fprintf(stderr, "FAIL: the inherited pipe does not work\n");
        ok = 0;
    }
    struct heap h = heap_make(2u << 20, 4242);  /* the image's own heap: emulated when engines == 1 */
    ok = heap_verify(&h, "exec'd image") && ok;
    heap_free(&h);
    printf("exec'd image %d: %s\n", (int)getpid(), ok ? "all checks held" : "FAILED");
    return ok ? 0 : 1;
}

/* environ without LD_PRELOAD (a copy). */
static char** env_without_preload(void) {
    size_t n = 0;
    while (environ[n]) ++n;
    char** env = calloc(n + 1, sizeof *env);
    for (size_t i = 0, k = 0; i < n; ++i)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
    return env;
}

static void exec_image(int engines, char** env) {
    char engines_arg[4];
    snprintf(engines_arg, sizeof engines_arg, "%d", engines);
    char* argv[] = {g_self, "--image", engines_arg, g_others, "40", "41", "42", NULL};
    fflush(NULL);
    execve(g_self, argv, env);
    perror("execve");
    _exit(127);
}

static void* worker(void* arg) {
    const int id = (int)(intptr_t)arg;
    for (int r = 0;; ++r) {
        if (!heap_verify(&g_heaps[id], "worker")) _exit(1);
        heap_rewrite(&g_heaps[id], 1000u * (unsigned)(id + 1) + (unsigned)r + 1);
        atomic_store(&g_rounds[id], r + 1);
        if (id == 0 && r == 1) {  /* this worker execs (or forks), the others are mid-fault */
            if (strcmp(g_mode, "keep") == 0) exec_image(1, environ);
            if (strcmp(g_mode, "drop") == 0) exec_image(0, env_without_preload());
            const pid_t pid = fork();
            if (pid == 0) exec_image(1, environ);
            announce("DIME-CHILD-REPORT", pid, "emulated");
            int status = 0;
            waitpid(pid, &status, 0);
            const int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            exit(ok && heap_verify(&g_heaps[0], "parent after the exec'd child") ? 0 : 1);
        }
    }
    return NULL;
}

int main(int argc, char** argv) {
    if (argc >= 4 && strcmp(argv[1], "--image") == 0) return image(atoi(argv[2]), atoi(argv[3]), argc - 4, argv + 4);
    if (argc != 2) {
        fprintf(stderr, "usage: hostile_exec keep|drop|fork\n");
        return 2;
    }
    g_mode = argv[1];
    alarm(90);
    const ssize_t len = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    if (len <= 0) return 1;
    g_self[len] = '\0';
    announce("DIME-ROOT-PID", getpid(), NULL);
    /* Whatever the caller left open stays: the image must find it, and the three below. */
    struct fd_counts before;
    if (!count_fds(&before, 0)) return 1;
    snprintf(g_others, sizeof g_others, "%d", before.other + 3);
    int p[2];
    if (pipe(p) != 0 || dup2(p[0], kPipeRead) < 0 || dup2(p[1], kPipeWrite) < 0) return 1;
    close(p[0]);
    close(p[1]);
    const int null_fd = open("/dev/null", O_RDONLY);
    const int cloexec_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || cloexec_fd < 0 || dup2(null_fd, kDevNull) < 0 || dup3(cloexec_fd, kCloexec, O_CLOEXEC) < 0) return 1;
    close(null_fd);
    close(cloexec_fd);
    for (int i = 0; i < kWorkers; ++i) g_heaps[i] = heap_make(2u << 20, 1000u * (unsigned)(i + 1));
    pthread_t t;
    for (int i = 0; i < kWorkers; ++i) pthread_create(&t, NULL, worker, (void*)(intptr_t)i);
    for (;;) pause();  /* the process ends by exec (or, in fork mode, the worker's exit) */
}
