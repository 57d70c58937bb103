#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

void
secret_wipe(void *buf, size_t len)
{
    if (buf != NULL && len > 0)
        OPENSSL_cleanse(buf, len);
}

void
secret_free_string(char *text)
{
    if (text == NULL)
        return;
    secret_wipe(text, strlen(text));
    free(text);
}

void
secret_clear_string(char **text)
{
    if (text == NULL)
        return;
    secret_free_string(*text);
    *text = NULL;
}

bool
secret_equal(const char *a, const char *b)
{
    size_t len_a, len_b;

    if (a == NULL || b == NULL)
        return false;
    len_a = strlen(a);
    len_b = strlen(b);
    if (len_a != len_b)
        return false;
    return CRYPTO_memcmp(a, b, len_a) == 0;
}

int
secret_random_token(char *out, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char random_bytes[256];

    if (len > sizeof(random_bytes))
        return -1;
    if (RAND_bytes(random_bytes, (int)len) != 1)
        return -1;
    /* 64 symbols, so taking the low six bits of each byte is uniform. */
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[random_bytes[i] & 0x3f];
    out[len] = '\0';
    secret_wipe(random_bytes, len);
    return 0;
}

char *
secret_read_file(const char *path)
{
    char buf[4096];
    struct stat st;
    ssize_t n;
    char *result = NULL;
    int fd, saved;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        errno = EPERM;
        goto out;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        goto out;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    result = strdup(buf);
out:
    saved = errno;
    secret_wipe(buf, sizeof(buf));
    close(fd);
    errno = saved;
    return result;
}

int
secret_write_file(const char *path, const char *text)
{
    char tmp[4096];
    size_t len = strlen(text);
    int fd, saved, rc = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd < 0)
        return -1;
    if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        goto out;
    if (fsync(fd) != 0)
        goto out;
    if (rename(tmp, path) != 0)
        goto out;
    rc = 0;
out:
    saved = errno;
    close(fd);
    if (rc != 0)
        unlink(tmp);
    errno = saved;
    return rc;
}

int
secret_disable_core_dumps(void)
{
    struct rlimit none = {0, 0};

    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return -1;
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
