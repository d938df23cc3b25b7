// The ceiling of a small answer on this machine: a minimal HTTP/1.1 server that does no
// parsing beyond finding where each request head ends and writes one fixed answer (read
// from a file, byte for byte what perma sends for the same URL) for each. One epoll loop
// per core, each on its own SO_REUSEPORT listener, keep-alive, TCP_NODELAY: what is left
// is the kernel's work and the loop's. bench/delivery.sh builds and runs it.
//
// Usage: canned PORT ANSWER_FILE    (listens on 127.0.0.1:PORT until killed)
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FD 65536

static char *answer;
static size_t answer_len;
static int port;
// Per connection: how much of "\r\n\r\n" the bytes read so far end with.
static unsigned char matched[MAX_FD];

static void die(const char *what) {
    perror(what);
    exit(1);
}

// Writes the whole answer `times` times (a pipelining client may send several heads).
static int send_answers(int fd, int times) {
    for (int i = 0; i < times; i++) {
        size_t off = 0;
        while (off < answer_len) {
            ssize_t w = write(fd, answer + off, answer_len - off);
            if (w > 0) {
                off += (size_t)w;
            } else if (w < 0 && errno == EAGAIN) {
                usleep(50);
            } else {
                return -1;
            }
        }
    }
    return 0;
}

static void *worker(void *unused) {
    (void)unused;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(ls, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(ls, 4096) < 0) die("listen");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event events[256];
    static __thread char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= MAX_FD) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    matched[c] = 0;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                close(fd);
                continue;
            }
            int heads = 0;
            unsigned char m = matched[fd];
            for (ssize_t k = 0; k < r; k++) {
                char want = (m % 2 == 0) ? '\r' : '\n';
                if (buf[k] == want) {
                    if (++m == 4) {
                        heads++;
                        m = 0;
                    }
                } else {
                    m = buf[k] == '\r' ? 1 : 0;
                }
            }
            matched[fd] = m;
            if (heads && send_answers(fd, heads) < 0) close(fd);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT ANSWER_FILE\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    FILE *f = fopen(argv[2], "rb");
    if (!f) die("answer file");
    struct stat st;
    fstat(fileno(f), &st);
    answer_len = (size_t)st.st_size;
    answer = malloc(answer_len);
    if (fread(answer, 1, answer_len, f) != answer_len) die("reading the answer");
    fclose(f);
    // One loop per CPU this process may run on (a bench may pin it to some).
    cpu_set_t set;
    long cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    pthread_t t;
    for (long i = 1; i < cores; i++) pthread_create(&t, NULL, worker, NULL);
    worker(NULL);
    return 0;
}
