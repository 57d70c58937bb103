#include "daemon/wiping_alloc.h"

#include <event2/event.h>
#include <jansson.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

/* Request bodies (with PINs) pass through libevent's buffers and jansson's
 * strings. Wiping every block on release keeps those copies from lingering
 * in freed memory. malloc_usable_size is glibc's, which Debian uses. */
static void
wiping_free(void *block)
{
    if (block == NULL)
        return;
    secret_wipe(block, malloc_usable_size(block));
    free(block);
}

static void *
wiping_realloc(void *block, size_t size)
{
    size_t old_size;
    void *grown;

    if (block == NULL)
        return malloc(size);
    if (size == 0) {
        wiping_free(block);
        return NULL;
    }
    grown = malloc(size);
    if (grown == NULL)
        return NULL;
    old_size = malloc_usable_size(block);
    memcpy(grown, block, old_size < size ? old_size : size);
    wiping_free(block);
    return grown;
}

void
wiping_alloc_install(void)
{
    json_set_alloc_funcs(malloc, wiping_free);
    event_set_mem_functions(malloc, wiping_realloc, wiping_free);
}
