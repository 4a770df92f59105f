/* free_port.c — prints a TCP port on 127.0.0.1 that is free right now (the kernel picks it when
 * binding port 0), for tests/realprogs/redis.sh. Another process may take it before the server
 * does; the script retries with a new port when the server cannot bind. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof addr;
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr*)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr*)&addr, &len) != 0) {
        perror("free_port");
        return 1;
    }
    printf("%u\n", (unsigned)ntohs(addr.sin_port));
    close(fd);
    return 0;
}
