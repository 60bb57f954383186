// LD_PRELOAD shim for scripts/step-phases.sh: times the system calls a journaled HTTP check
// makes (the journal's pwrite and fdatasync, the request's write, the wait, the answer's read)
// and writes them to $PHASES_OUT at exit, one line each: kind, start and end in microseconds.
// The time between two calls is the program's own work; the calls are the kernel's and the
// disk's. Only this measuring tool uses it; runbook never loads it.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CALLS 1000000
static double started[MAX_CALLS], ended[MAX_CALLS];
static char kinds[MAX_CALLS];
static int calls;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

#define REAL(name) static __typeof__(name) *real; if (!real) real = dlsym(RTLD_NEXT, #name)
#define TIMED(kind, call) \
    double start = now_us(); \
    __typeof__(call) result = call; \
    if (calls < MAX_CALLS) { started[calls] = start; ended[calls] = now_us(); kinds[calls++] = kind; } \
    return result

int fdatasync(int fd) { REAL(fdatasync); TIMED('S', real(fd)); }
ssize_t pwrite64(int fd, const void *b, size_t n, off_t at) { REAL(pwrite64); TIMED('P', real(fd, b, n, at)); }
ssize_t pwrite(int fd, const void *b, size_t n, off_t at) { return pwrite64(fd, b, n, at); }
ssize_t writev(int fd, const struct iovec *v, int n) { REAL(writev); TIMED('W', real(fd, v, n)); }
// The request written with send (Rust's TcpStream::write), not writev.
ssize_t sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l) {
    REAL(sendto); TIMED('W', real(fd, b, n, f, a, l));
}
ssize_t send(int fd, const void *b, size_t n, int f) { return sendto(fd, b, n, f, NULL, 0); }
int epoll_wait(int e, struct epoll_event *ev, int n, int t) { REAL(epoll_wait); TIMED('E', real(e, ev, n, t)); }
ssize_t recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l) {
    REAL(recvfrom); TIMED('R', real(fd, b, n, f, a, l));
}
ssize_t recv(int fd, void *b, size_t n, int f) { return recvfrom(fd, b, n, f, NULL, NULL); }
// The floor's blocking socket calls (stdin, stdout and stderr are left alone).
ssize_t write(int fd, const void *b, size_t n) {
    REAL(write); if (fd < 3) return real(fd, b, n); TIMED('W', real(fd, b, n));
}
ssize_t read(int fd, void *b, size_t n) { REAL(read); TIMED('R', real(fd, b, n)); }

__attribute__((destructor)) static void dump(void) {
    const char *path = getenv("PHASES_OUT");
    FILE *out = path ? fopen(path, "w") : NULL;
    if (!out) return;
    for (int i = 0; i < calls; i++) fprintf(out, "%c %.1f %.1f\n", kinds[i], started[i], ended[i]);
    fclose(out);
}
