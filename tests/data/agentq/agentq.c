/* Lists the keys of the ssh agent at $SSH_AUTH_SOCK, like `ssh-add -L` would, for a
 * RUN --mount=type=ssh step in a busybox image (which has no ssh-add and no unix-socket
 * client). Prints "keys N" and then one "comment C" line per key; exits 2 without an
 * agent, 3 on a protocol error. `agentq hold` then keeps the connection open for a minute
 * (a step interrupted while it uses the agent). Built static by the tests:
 * gcc -static -o agentq agentq.c */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int read_all(int fd, unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int main(int argc, char **argv) {
    const char *path = getenv("SSH_AUTH_SOCK");
    if (!path) { fprintf(stderr, "no SSH_AUTH_SOCK\n"); return 2; }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {0};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("connect"); return 2;
    }
    const unsigned char request[5] = {0, 0, 0, 1, 11}; /* SSH_AGENTC_REQUEST_IDENTITIES */
    if (write(fd, request, 5) != 5) { perror("write"); return 3; }
    unsigned char head[4];
    if (read_all(fd, head, 4)) return 3;
    uint32_t len = be32(head);
    if (len < 5 || len > 256 * 1024) return 3;
    unsigned char *body = malloc(len);
    if (!body || read_all(fd, body, len) || body[0] != 12) return 3; /* IDENTITIES_ANSWER */
    uint32_t count = be32(body + 1), pos = 5;
    printf("keys %u\n", count);
    for (uint32_t i = 0; i < count; i++) {
        if (pos + 4 > len) return 3;
        pos += 4 + be32(body + pos); /* the key blob */
        if (pos + 4 > len) return 3;
        uint32_t size = be32(body + pos);
        if (pos + 4 + size > len) return 3;
        printf("comment %.*s\n", (int)size, body + pos + 4);
        pos += 4 + size;
    }
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "hold") == 0) sleep(60);
    return 0;
}
