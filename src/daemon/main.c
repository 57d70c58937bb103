/*
 * hsm4ssld: the HSM4SSL service and its administrative commands.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secret.h"
#include "daemon/admin_cmds.h"
#include "daemon/config.h"
#include "daemon/serve.h"
#include "daemon/wiping_alloc.h"
#include "managers/names.h"

#define DEFAULT_DATA_DIR "/var/lib/hsm4ssl"
#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: hsm4ssld COMMAND [OPTIONS]\n"
        "\n"
        "Commands:\n"
        "  serve         run the service (creates the embedded default in a\n"
        "                new data directory)\n"
        "  check-config  load the configuration and the policy set, report\n"
        "                the first error, change nothing\n"
        "  list-hsms     list the configured HSMs and whether each is up\n"
        "  version       print the version\n"
        "\n"
        "Options:\n"
        "  --data-dir DIR      data directory (default $HSM4SSL_DATA_DIR,\n"
        "                      else " DEFAULT_DATA_DIR ")\n"
        "  --listen ADDR:PORT  address of the HTTPS API, e.g. "
        "127.0.0.1:8443;\n"
        "                      port 0 picks a free port (serve)\n"
        "  --threads N         handler threads; 0 = one per core, or four\n"
        "                      per core with a network HSM (serve)\n"
        "  --ocsp-url URL      OCSP responder URL (http:// or https://)\n"
        "                      that new host certificates carry in\n"
        "                      authorityInfoAccess; overrides ca.ocsp_url\n"
        "                      (serve)\n"
        "  --ca-key SPEC       key of a new root CA: rsa:BITS with 2048 to\n"
        "                      8192 bits (default rsa:2048), ec:256, ec:384\n"
        "                      or ec:521\n"
        "  --module PATH       SoftHSM2 module for a new data directory\n"
        "                      (default " DEFAULT_MODULE ")\n"
        "  --api-dns NAME      a DNS name for the API's TLS certificate of a\n"
        "                      new data directory (repeatable, at most 8)\n"
        "  --api-ip ADDR       an IP address for that certificate\n"
        "                      (repeatable, at most 8)\n"
        "  --log-level LEVEL   error, warn, info (default) or debug\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit status: 0 success, 1 failure (the log gives the reason),\n"
        "2 usage error.\n");
}

struct options {
    const char *command;
    const char *data_dir;
    const char *listen;
    const char *ocsp_url;
    unsigned threads;
    struct bootstrap_options boot;
    bool boot_options_given;
};

/* Checks an --api-ip value as host registration checks addresses, since
 * it becomes a SAN of the API's certificate. Returns 0 or -1 after
 * printing why. */
static int
check_api_ip(const char *value)
{
    char canonical[64];
    enum names_ip_check result;

    result = names_host_ip_check(value, canonical, sizeof(canonical));
    if (result == NAMES_IP_OK)
        return 0;
    if (result == NAMES_IP_V4_MAPPED || result == NAMES_IP_V4_COMPATIBLE)
        fprintf(stderr, "hsm4ssld: invalid --api-ip %s: an IPv4 address in "
                "IPv6 form; give %s instead\n", value, canonical);
    else if (result == NAMES_IP_INVALID)
        fprintf(stderr, "hsm4ssld: invalid --api-ip %s; give a numeric "
                "IPv4 or IPv6 address\n", value);
    else
        fprintf(stderr, "hsm4ssld: invalid --api-ip %s: %s, which names no "
                "single host; give the server's own unicast address\n",
                value, names_ip_check_text(result));
    return -1;
}

/* Adds a --api-dns or --api-ip value after checking it. */
static int
add_api_name(struct options *opts, const char *option, const char *value)
{
    bool dns = strcmp(option, "--api-dns") == 0;
    size_t *count = dns ? &opts->boot.api_dns_count
                        : &opts->boot.api_ip_count;
    const char **names = dns ? opts->boot.api_dns : opts->boot.api_ips;

    if (*count == BOOTSTRAP_MAX_API_NAMES) {
        fprintf(stderr, "hsm4ssld: at most %d %s options are accepted\n",
                BOOTSTRAP_MAX_API_NAMES, option);
        return -1;
    }
    if (dns && !names_dns_name_valid(value)) {
        fprintf(stderr, "hsm4ssld: invalid --api-dns %s; give a DNS name "
                "such as ca.example.test\n", value);
        return -1;
    }
    if (!dns && check_api_ip(value) != 0)
        return -1;
    names[(*count)++] = value;
    opts->boot_options_given = true;
    return 0;
}

static int
parse_threads(const char *text, unsigned *out)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < 0 || value > 64) {
        fprintf(stderr, "hsm4ssld: invalid --threads %s; use 0 to 64\n",
                text);
        return -1;
    }
    *out = (unsigned)value;
    return 0;
}

/* Returns 0, 1 when help was shown, or -1 on a usage error. */
static int
parse_options(int argc, char **argv, struct options *opts)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return 1;
        if (value == NULL) {
            fprintf(stderr, "hsm4ssld: %s needs a value, or is unknown; see "
                            "hsm4ssld --help\n",
                    arg);
            return -1;
        }
        if (strcmp(arg, "--data-dir") == 0)
            opts->data_dir = value;
        else if (strcmp(arg, "--listen") == 0) {
            if (!serve_listen_valid(value)) {
                fprintf(stderr, "hsm4ssld: invalid --listen %s; give "
                                "ADDR:PORT or [V6]:PORT with a numeric "
                                "address, e.g. 127.0.0.1:8443\n",
                        value);
                return -1;
            }
            opts->listen = value;
        } else if (strcmp(arg, "--ca-key") == 0) {
            if (!bootstrap_ca_key_valid(value)) {
                fprintf(stderr, "hsm4ssld: invalid --ca-key %s; use "
                                "rsa:2048 to rsa:8192, ec:256, ec:384 or "
                                "ec:521\n",
                        value);
                return -1;
            }
            opts->boot.ca_key = value;
            opts->boot_options_given = true;
        } else if (strcmp(arg, "--module") == 0) {
            opts->boot.module_path = value;
            opts->boot_options_given = true;
        } else if (strcmp(arg, "--api-dns") == 0 ||
                   strcmp(arg, "--api-ip") == 0) {
            if (add_api_name(opts, arg, value) != 0)
                return -1;
        } else if (strcmp(arg, "--ocsp-url") == 0) {
            if (!config_url_valid(value)) {
                fprintf(stderr, "hsm4ssld: invalid --ocsp-url %s; give an "
                                "http:// or https:// URL of printable "
                                "ASCII without spaces\n",
                        value);
                return -1;
            }
            opts->ocsp_url = value;
        } else if (strcmp(arg, "--threads") == 0) {
            if (parse_threads(value, &opts->threads) != 0)
                return -1;
        } else if (strcmp(arg, "--log-level") == 0) {
            int level = log_level_parse(value);
            if (level < 0) {
                fprintf(stderr, "hsm4ssld: invalid --log-level %s; use "
                                "error, warn, info or debug\n",
                        value);
                return -1;
            }
            log_set_level((enum log_level)level);
        } else {
            fprintf(stderr, "hsm4ssld: unknown option %s; see hsm4ssld "
                            "--help\n",
                    arg);
            return -1;
        }
        i++;
    }
    return 0;
}

/* Creates the data directory if needed and makes its path absolute. */
static int
absolute_data_dir(const char *dir, char out[PATH_MAX])
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "hsm4ssld: cannot create data directory %s: %s\n",
                dir, strerror(errno));
        return -1;
    }
    if (realpath(dir, out) == NULL) {
        fprintf(stderr, "hsm4ssld: cannot resolve data directory %s: %s\n",
                dir, strerror(errno));
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct options opts = {0};
    char data_dir[PATH_MAX];
    int parsed;

    wiping_alloc_install();
    umask(077);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    opts.command = argv[1];
    opts.data_dir = getenv("HSM4SSL_DATA_DIR");
    if (opts.data_dir == NULL || opts.data_dir[0] == '\0')
        opts.data_dir = DEFAULT_DATA_DIR;
    opts.boot.module_path = DEFAULT_MODULE;
    opts.boot.ca_key = "rsa:2048";
    parsed = parse_options(argc, argv, &opts);
    if (parsed != 0) {
        if (parsed > 0)
            usage(stdout);
        return parsed > 0 ? 0 : 2;
    }

    if (strcmp(opts.command, "version") == 0) {
        printf("hsm4ssld %s\n", HSM4SSL_VERSION);
        return 0;
    }
    if (secret_disable_core_dumps() != 0)
        log_warn("cannot disable core dumps: %s", strerror(errno));
    if (absolute_data_dir(opts.data_dir, data_dir) != 0)
        return 1;
    if (strcmp(opts.command, "serve") == 0) {
        struct serve_options serve = {0};
        serve.data_dir = data_dir;
        serve.listen = opts.listen;
        serve.ocsp_url = opts.ocsp_url;
        serve.threads = opts.threads;
        serve.boot = opts.boot;
        serve.boot_options_given = opts.boot_options_given;
        return serve_run(&serve);
    }
    if (strcmp(opts.command, "check-config") == 0)
        return admin_check_config(data_dir);
    if (strcmp(opts.command, "list-hsms") == 0)
        return admin_list_hsms(data_dir);
    fprintf(stderr, "hsm4ssld: unknown command %s; see hsm4ssld --help\n",
            opts.command);
    return 2;
}
