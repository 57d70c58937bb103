#include "cli/cli_alloc.h"

#include "common/secret.h"

#include <jansson.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Each block starts with a header that holds its usable size; the header
 * is as large as the strictest alignment, so the caller's part stays
 * aligned like malloc's. */
union block_header {
    size_t size;
    max_align_t align;
};

void *
cli_alloc_malloc(size_t size)
{
    union block_header *header;

    if (size > SIZE_MAX - sizeof(*header))
        return NULL;
    header = malloc(sizeof(*header) + size);
    if (header == NULL)
        return NULL;
    header->size = size;
    return header + 1;
}

void
cli_alloc_free(void *block)
{
    union block_header *header;

    if (block == NULL)
        return;
    header = (union block_header *)block - 1;
    secret_wipe(header, sizeof(*header) + header->size);
    free(header);
}

/* Always moves the data, so that the old block can be wiped. */
void *
cli_alloc_realloc(void *block, size_t size)
{
    union block_header *header;
    void *moved;

    if (block == NULL)
        return cli_alloc_malloc(size);
    moved = cli_alloc_malloc(size);
    if (moved == NULL)
        return NULL;
    header = (union block_header *)block - 1;
    memcpy(moved, block, header->size < size ? header->size : size);
    cli_alloc_free(block);
    return moved;
}

void *
cli_alloc_calloc(size_t count, size_t size)
{
    void *block;

    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    block = cli_alloc_malloc(count * size);
    if (block != NULL)
        memset(block, 0, count * size);
    return block;
}

char *
cli_alloc_strdup(const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = cli_alloc_malloc(len);

    if (copy != NULL)
        memcpy(copy, text, len);
    return copy;
}

void
cli_alloc_init(void)
{
    json_set_alloc_funcs(cli_alloc_malloc, cli_alloc_free);
}
