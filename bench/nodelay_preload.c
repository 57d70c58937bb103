/*
 * A what-if for the benchmark, never for production: an LD_PRELOAD
 * library that sets TCP_NODELAY on every socket that accept() or
 * accept4() returns, so that bench/run.sh --what-if-nodelay can measure
 * the server as it would run if it disabled Nagle's algorithm itself.
 *
 * Why it matters: a response written as two TLS records (headers, then
 * body) leaves the second segment waiting for the client's delayed ACK,
 * about 40 ms on Linux, on every request of a keep-alive connection.
 */
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

/* Exported so that the dynamic linker binds the server's calls here. */
int accept(int fd, struct sockaddr *addr, socklen_t *addr_len);
int accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags);

static void
set_nodelay(int fd)
{
    int one = 1;

    /* Fails harmlessly (ENOTSUP) on a Unix socket: nothing to change. */
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags)
{
    static int (*next)(int, struct sockaddr *, socklen_t *, int);
    int conn;

    if (next == NULL)
        *(void **)&next = dlsym(RTLD_NEXT, "accept4");
    conn = next(fd, addr, addr_len, flags);
    set_nodelay(conn);
    return conn;
}

int
accept(int fd, struct sockaddr *addr, socklen_t *addr_len)
{
    static int (*next)(int, struct sockaddr *, socklen_t *);
    int conn;

    if (next == NULL)
        *(void **)&next = dlsym(RTLD_NEXT, "accept");
    conn = next(fd, addr, addr_len);
    set_nodelay(conn);
    return conn;
}
