// A keep-alive HTTP server for scripts/step-phases.sh that answers every request with
// `200 ok` at once: the same answer for the floor and for runbook. Usage: server PORT
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *answer(void *arg) {
    int sock = (int)(long)arg, one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
    char request[8192];
    while (read(sock, request, sizeof request) > 0) write(sock, ok, strlen(ok));
    close(sock);
    return NULL;
}

int main(int argc, char **argv) {
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(argc > 1 ? atoi(argv[1]) : 18081),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&at, sizeof at) || listen(listener, 128)) { perror("bind"); return 1; }
    for (;;) {
        int sock = accept(listener, NULL, NULL);
        pthread_t thread;
        if (sock >= 0 && pthread_create(&thread, NULL, answer, (void *)(long)sock) == 0) pthread_detach(thread);
    }
}
