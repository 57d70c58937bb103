/*
 * An LD_PRELOAD library for the load generators of bench/run.sh, never
 * for production. Before each TCP connection to 127.0.0.1 it binds the
 * socket to one of BENCH_SOURCE_ADDRESSES loopback source addresses,
 * 127.0.0.2 upwards, in turn. So 100 benchmark clients look like many
 * hosts, as real clients of a CA are, and stay under the cap on open
 * connections per client address that hsm4ssld enforces.
 *
 * Linux routes all of 127.0.0.0/8 to the loopback interface, so no
 * packet leaves the machine. A bind that fails leaves the connection on
 * the kernel's choice of source address.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Exported so that the dynamic linker binds the client's calls here. */
int connect(int fd, const struct sockaddr *addr, socklen_t addr_len);

/* 127.0.0.2 to 127.0.0.254 */
#define SOURCE_ADDRESSES_MAX 253

static atomic_uint next_source;

/* Returns the number of source addresses to spread over, 0 for none. */
static unsigned
source_count(void)
{
    const char *text = getenv("BENCH_SOURCE_ADDRESSES");
    long count;

    if (text == NULL)
        return 0;
    count = strtol(text, NULL, 10);
    if (count < 1)
        return 0;
    return count > SOURCE_ADDRESSES_MAX ? SOURCE_ADDRESSES_MAX
                                        : (unsigned)count;
}

static bool
is_ipv4_loopback_one(const struct sockaddr *addr, socklen_t addr_len)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

    return addr != NULL && addr_len >= (socklen_t)sizeof(*in) &&
           in->sin_family == AF_INET &&
           in->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
}

static void
bind_next_source(int fd, unsigned count)
{
    struct sockaddr_in source;
    unsigned index = atomic_fetch_add(&next_source, 1) % count;

    memset(&source, 0, sizeof(source));
    source.sin_family = AF_INET;
    source.sin_port = 0;
    source.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + index);
    (void)bind(fd, (const struct sockaddr *)&source, sizeof(source));
}

int
connect(int fd, const struct sockaddr *addr, socklen_t addr_len)
{
    static int (*next)(int, const struct sockaddr *, socklen_t);
    unsigned count = source_count();

    if (next == NULL)
        *(void **)&next = dlsym(RTLD_NEXT, "connect");
    if (count > 0 && is_ipv4_loopback_one(addr, addr_len))
        bind_next_source(fd, count);
    return next(fd, addr, addr_len);
}
