/*
 * Host records kept in memory, so that issuing a certificate, which looks
 * up its host on every request, does not read the database each time.
 *
 * A host is never changed or deleted once stored (the store has no such
 * operation), so an entry cannot go stale, on this node or on another
 * that shares the database. An operation that changes or deletes a host
 * must drop the host's entry here, and reach the caches of the other
 * nodes too.
 *
 * The cache contains at most STORE_HOST_CACHE_MAX hosts. When it is full,
 * it is emptied and fills again from the lookups that follow, which keeps
 * it simple and bounds its memory.
 */
#include "store/store-internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

#define STORE_HOST_CACHE_MAX 4096
#define STORE_HOST_CACHE_BUCKETS 1024 /* per index, a power of two */

struct host_entry {
    struct store_host host;
    struct host_entry *next_by_name;
    struct host_entry *next_by_id;
};

struct store_host_cache {
    pthread_mutex_t lock;
    size_t count;
    struct host_entry *by_name[STORE_HOST_CACHE_BUCKETS];
    struct host_entry *by_id[STORE_HOST_CACHE_BUCKETS];
};

static size_t
name_bucket(const char *name)
{
    return hash_fnv1a(name, strlen(name)) & (STORE_HOST_CACHE_BUCKETS - 1);
}

static size_t
id_bucket(int64_t id)
{
    return (size_t)((uint64_t)id & (STORE_HOST_CACHE_BUCKETS - 1));
}

/* Copies host into *out, whose arrays it allocates. Returns false, with
 * *out cleared, when memory is exhausted. */
static bool
host_copy(const struct store_host *host, struct store_host *out)
{
    memset(out, 0, sizeof(*out));
    out->id = host->id;
    memcpy(out->name, host->name, sizeof(out->name));
    out->created = host->created;
    for (size_t i = 0; i < host->dns_count; i++)
        if (!store_strings_append(&out->dns_names, &out->dns_count,
                                  host->dns_names[i]))
            goto fail;
    for (size_t i = 0; i < host->ip_count; i++)
        if (!store_strings_append(&out->ip_addresses, &out->ip_count,
                                  host->ip_addresses[i]))
            goto fail;
    return true;
fail:
    store_host_clear(out);
    return false;
}

struct store_host_cache *
store_host_cache_new(void)
{
    struct store_host_cache *cache = calloc(1, sizeof(*cache));

    if (cache != NULL)
        pthread_mutex_init(&cache->lock, NULL);
    return cache;
}

/* Frees every entry. The caller holds the lock. */
static void
empty_inlock(struct store_host_cache *cache)
{
    for (size_t i = 0; i < STORE_HOST_CACHE_BUCKETS; i++) {
        struct host_entry *entry = cache->by_name[i], *next;

        for (; entry != NULL; entry = next) {
            next = entry->next_by_name;
            store_host_clear(&entry->host);
            free(entry);
        }
        cache->by_name[i] = NULL;
        cache->by_id[i] = NULL;
    }
    cache->count = 0;
}

void
store_host_cache_free(struct store_host_cache *cache)
{
    if (cache == NULL)
        return;
    empty_inlock(cache);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

static const struct host_entry *
find_by_name_inlock(const struct store_host_cache *cache, const char *name)
{
    const struct host_entry *entry = cache->by_name[name_bucket(name)];

    while (entry != NULL && strcmp(entry->host.name, name) != 0)
        entry = entry->next_by_name;
    return entry;
}

static const struct host_entry *
find_by_id_inlock(const struct store_host_cache *cache, int64_t id)
{
    const struct host_entry *entry = cache->by_id[id_bucket(id)];

    while (entry != NULL && entry->host.id != id)
        entry = entry->next_by_id;
    return entry;
}

/* Copies the entry found into *out. Returns false when there is none or
 * memory is exhausted, so the caller reads the database instead. */
static bool
copy_found(struct store_host_cache *cache, const char *name, int64_t id,
           struct store_host *out)
{
    const struct host_entry *entry;
    bool found;

    if (cache == NULL)
        return false;
    pthread_mutex_lock(&cache->lock);
    entry = name != NULL ? find_by_name_inlock(cache, name)
                         : find_by_id_inlock(cache, id);
    found = entry != NULL && host_copy(&entry->host, out);
    pthread_mutex_unlock(&cache->lock);
    return found;
}

bool
store_host_cache_get_by_name(struct store_host_cache *cache,
                             const char *name, struct store_host *out)
{
    return copy_found(cache, name, 0, out);
}

bool
store_host_cache_get_by_id(struct store_host_cache *cache, int64_t id,
                           struct store_host *out)
{
    return copy_found(cache, NULL, id, out);
}

void
store_host_cache_put(struct store_host_cache *cache,
                     const struct store_host *host)
{
    struct host_entry *entry;
    size_t by_name, by_id;

    if (cache == NULL)
        return;
    entry = calloc(1, sizeof(*entry));
    if (entry == NULL)
        return;
    if (!host_copy(host, &entry->host)) {
        free(entry);
        return;
    }
    by_name = name_bucket(host->name);
    by_id = id_bucket(host->id);
    pthread_mutex_lock(&cache->lock);
    if (find_by_id_inlock(cache, host->id) != NULL) {
        /* Another thread has stored it since the lookup. */
        pthread_mutex_unlock(&cache->lock);
        store_host_clear(&entry->host);
        free(entry);
        return;
    }
    if (cache->count >= STORE_HOST_CACHE_MAX)
        empty_inlock(cache);
    entry->next_by_name = cache->by_name[by_name];
    cache->by_name[by_name] = entry;
    entry->next_by_id = cache->by_id[by_id];
    cache->by_id[by_id] = entry;
    cache->count++;
    pthread_mutex_unlock(&cache->lock);
}
