// The like-for-like floor of a journaled HTTP check, for scripts/step-phases.sh: the start
// line written over zeros, a GET on a kept-alive connection, the result line written, one
// fdatasync. Usage: floor PORT COUNT JOURNAL
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: floor PORT COUNT JOURNAL\n"); return 2; }
    int count = atoi(argv[2]);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int sock = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (connect(sock, (struct sockaddr *)&to, sizeof to)) { perror("connect"); return 1; }
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int journal = open(argv[3], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (journal < 0) { perror(argv[3]); return 1; }
    static char zeros[1 << 20];
    for (long done = 0; done < 400L * count + 4096; done += sizeof zeros) write(journal, zeros, sizeof zeros);
    fsync(journal);
    char line[200], answer[4096];
    memset(line, 'x', sizeof line);
    line[sizeof line - 1] = '\n';
    const char *get = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    off_t at = 0;
    for (int i = 0; i < count; i++) {
        at += pwrite(journal, line, 100, at);
        write(sock, get, strlen(get));
        read(sock, answer, sizeof answer);
        at += pwrite(journal, line, sizeof line, at);
        fdatasync(journal);
    }
    close(journal);
    unlink(argv[3]);
    return 0;
}
