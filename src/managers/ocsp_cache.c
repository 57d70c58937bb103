/*
 * Signed OCSP responses kept for requests without a nonce, so that most
 * requests are served without the HSM or the store.
 *
 * A response is filed under its CertID's DER, in the hash bucket of the
 * CertID's serial, so that a revocation finds every response for a
 * serial (one per CertID hash algorithm) in one bucket. Each response
 * stays until its refresh time, until ocsp_cache_forget, or until the
 * cache is over its size and it is the oldest. One mutex guards the
 * table, held only to look up, insert or unlink.
 *
 * TODO: nodes that share a PostgreSQL database learn of another node's
 * revocation only through ocsp_cache_forget in this process, so a
 * response cached here stays until its refresh time. Such nodes need a
 * notification from the database (LISTEN/NOTIFY) that calls
 * ocsp_cache_forget for the serial.
 */
#include "managers/ocsp_internal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Buckets per expected response, sized for responses of about 1 KiB. */
#define CACHE_BYTES_PER_BUCKET 1024
#define CACHE_MIN_BUCKETS 1024

struct ocsp_cached {
    atomic_uint refs;
    unsigned char *der; /* OPENSSL_malloc'ed OCSPResponse */
    size_t len;
};

/* A cached response under one CertID. */
struct cache_entry {
    struct cache_entry *bucket_next;
    struct cache_entry *older; /* insertion order, for eviction */
    struct cache_entry *newer;
    struct ocsp_cached *cached; /* one reference */
    time_t refresh_at;
    uint64_t serial_hash;
    size_t bytes;               /* counted against max_bytes */
    size_t key_len;
    unsigned char key[];        /* the CertID's DER */
};

struct ocsp_cache {
    pthread_mutex_t lock;       /* guards everything below */
    struct cache_entry **buckets;
    size_t bucket_count;        /* a power of two */
    struct cache_entry *oldest;
    struct cache_entry *newest;
    size_t entries;
    size_t bytes;
    size_t max_bytes;
    uint64_t generation;        /* ocsp_cache_forget calls */
    uint64_t seed;              /* random, so serials cannot aim at a
                                   bucket */
};

struct ocsp_cached *
ocsp_cached_new(unsigned char *der, size_t len)
{
    struct ocsp_cached *cached = malloc(sizeof(*cached));

    if (cached == NULL) {
        OPENSSL_free(der);
        return NULL;
    }
    atomic_init(&cached->refs, 1);
    cached->der = der;
    cached->len = len;
    return cached;
}

void
ocsp_cached_unref(void *arg)
{
    struct ocsp_cached *cached = arg;

    if (cached == NULL || atomic_fetch_sub(&cached->refs, 1) != 1)
        return;
    OPENSSL_free(cached->der);
    free(cached);
}

void
ocsp_cached_to_reply(struct ocsp_cached *cached, struct ocsp_reply *reply)
{
    reply->der = cached->der;
    reply->len = cached->len;
    reply->release = ocsp_cached_unref;
    reply->owner = cached;
}

static size_t
bucket_count_for(size_t max_bytes)
{
    size_t count = CACHE_MIN_BUCKETS;

    while (count < max_bytes / CACHE_BYTES_PER_BUCKET)
        count *= 2;
    return count;
}

struct ocsp_cache *
ocsp_cache_new(size_t max_bytes)
{
    struct ocsp_cache *cache = calloc(1, sizeof(*cache));

    if (cache == NULL)
        return NULL;
    cache->max_bytes = max_bytes;
    cache->bucket_count = bucket_count_for(max_bytes);
    cache->buckets = calloc(cache->bucket_count, sizeof(*cache->buckets));
    if (cache->buckets == NULL ||
        RAND_bytes((unsigned char *)&cache->seed, sizeof(cache->seed)) !=
            1) {
        free(cache->buckets);
        free(cache);
        return NULL;
    }
    pthread_mutex_init(&cache->lock, NULL);
    return cache;
}

void
ocsp_cache_free(struct ocsp_cache *cache)
{
    struct cache_entry *entry, *newer;

    if (cache == NULL)
        return;
    for (entry = cache->oldest; entry != NULL; entry = newer) {
        newer = entry->newer;
        ocsp_cached_unref(entry->cached);
        free(entry);
    }
    pthread_mutex_destroy(&cache->lock);
    free(cache->buckets);
    free(cache);
}

/* FNV-1a over the serial bytes, started from the cache's random seed. */
static uint64_t
hash_serial(const struct ocsp_cache *cache, const unsigned char *serial,
            size_t len)
{
    uint64_t hash = 14695981039346656037ULL ^ cache->seed;

    for (size_t i = 0; i < len; i++) {
        hash ^= serial[i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

static struct cache_entry **
bucket_of(struct ocsp_cache *cache, uint64_t serial_hash)
{
    return &cache->buckets[serial_hash & (cache->bucket_count - 1)];
}

/* Unlinks entry from its bucket (at *link) and from the age list, and
 * frees it. */
static void
remove_inlock(struct ocsp_cache *cache, struct cache_entry **link)
{
    struct cache_entry *entry = *link;

    *link = entry->bucket_next;
    if (entry->older != NULL)
        entry->older->newer = entry->newer;
    else
        cache->oldest = entry->newer;
    if (entry->newer != NULL)
        entry->newer->older = entry->older;
    else
        cache->newest = entry->older;
    cache->entries--;
    cache->bytes -= entry->bytes;
    ocsp_cached_unref(entry->cached);
    free(entry);
}

static void
remove_oldest_inlock(struct ocsp_cache *cache)
{
    struct cache_entry **link = bucket_of(cache, cache->oldest->serial_hash);

    while (*link != cache->oldest)
        link = &(*link)->bucket_next;
    remove_inlock(cache, link);
}

/* Returns the link that points at the entry for key, or NULL. */
static struct cache_entry **
find_inlock(struct ocsp_cache *cache, uint64_t serial_hash,
            const unsigned char *key, size_t key_len)
{
    struct cache_entry **link = bucket_of(cache, serial_hash);

    for (; *link != NULL; link = &(*link)->bucket_next)
        if ((*link)->serial_hash == serial_hash &&
            (*link)->key_len == key_len &&
            memcmp((*link)->key, key, key_len) == 0)
            return link;
    return NULL;
}

uint64_t
ocsp_cache_generation(struct ocsp_cache *cache)
{
    uint64_t generation;

    pthread_mutex_lock(&cache->lock);
    generation = cache->generation;
    pthread_mutex_unlock(&cache->lock);
    return generation;
}

struct ocsp_cached *
ocsp_cache_get(struct ocsp_cache *cache, const unsigned char *key,
               size_t key_len, const unsigned char *serial,
               size_t serial_len, time_t now)
{
    uint64_t serial_hash = hash_serial(cache, serial, serial_len);
    struct ocsp_cached *cached = NULL;
    struct cache_entry **link;

    pthread_mutex_lock(&cache->lock);
    link = find_inlock(cache, serial_hash, key, key_len);
    if (link != NULL && now >= (*link)->refresh_at) {
        remove_inlock(cache, link);
    } else if (link != NULL) {
        cached = (*link)->cached;
        atomic_fetch_add(&cached->refs, 1);
    }
    pthread_mutex_unlock(&cache->lock);
    return cached;
}

static struct cache_entry *
entry_new(const unsigned char *key, size_t key_len, uint64_t serial_hash,
          struct ocsp_cached *cached, time_t refresh_at)
{
    struct cache_entry *entry = malloc(sizeof(*entry) + key_len);

    if (entry == NULL)
        return NULL;
    memset(entry, 0, sizeof(*entry));
    memcpy(entry->key, key, key_len);
    entry->key_len = key_len;
    entry->serial_hash = serial_hash;
    entry->refresh_at = refresh_at;
    entry->bytes = sizeof(*entry) + key_len + sizeof(*cached) + cached->len;
    atomic_fetch_add(&cached->refs, 1);
    entry->cached = cached;
    return entry;
}

/* Links entry as the newest, replacing an entry for the same key. */
static void
insert_inlock(struct ocsp_cache *cache, struct cache_entry *entry)
{
    struct cache_entry **link =
        find_inlock(cache, entry->serial_hash, entry->key, entry->key_len);

    if (link != NULL)
        remove_inlock(cache, link);
    link = bucket_of(cache, entry->serial_hash);
    entry->bucket_next = *link;
    *link = entry;
    entry->older = cache->newest;
    if (cache->newest != NULL)
        cache->newest->newer = entry;
    else
        cache->oldest = entry;
    cache->newest = entry;
    cache->entries++;
    cache->bytes += entry->bytes;
}

/* Evicts the oldest entries while the cache is over its size. */
static void
evict_inlock(struct ocsp_cache *cache)
{
    while (cache->bytes > cache->max_bytes && cache->oldest != NULL)
        remove_oldest_inlock(cache);
}

void
ocsp_cache_put(struct ocsp_cache *cache, uint64_t generation,
               const unsigned char *key, size_t key_len,
               const unsigned char *serial, size_t serial_len,
               struct ocsp_cached *cached, time_t refresh_at)
{
    uint64_t serial_hash = hash_serial(cache, serial, serial_len);
    struct cache_entry *entry =
        entry_new(key, key_len, serial_hash, cached, refresh_at);

    if (entry == NULL)
        return;
    pthread_mutex_lock(&cache->lock);
    if (cache->generation == generation && entry->bytes <= cache->max_bytes) {
        insert_inlock(cache, entry);
        evict_inlock(cache);
        entry = NULL;
    }
    pthread_mutex_unlock(&cache->lock);
    if (entry != NULL) {
        ocsp_cached_unref(entry->cached);
        free(entry);
    }
}

void
ocsp_cache_forget(struct ocsp_cache *cache, const unsigned char *serial,
                  size_t serial_len)
{
    uint64_t serial_hash = hash_serial(cache, serial, serial_len);
    struct cache_entry **link;

    pthread_mutex_lock(&cache->lock);
    cache->generation++;
    link = bucket_of(cache, serial_hash);
    /* A serial whose 64-bit hash is the same loses its response too,
     * which costs one more signature and nothing else. */
    while (*link != NULL) {
        if ((*link)->serial_hash == serial_hash)
            remove_inlock(cache, link);
        else
            link = &(*link)->bucket_next;
    }
    pthread_mutex_unlock(&cache->lock);
}

void
ocsp_cache_forget_all(struct ocsp_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    cache->generation++;
    while (cache->oldest != NULL)
        remove_oldest_inlock(cache);
    pthread_mutex_unlock(&cache->lock);
}

void
ocsp_cache_usage(struct ocsp_cache *cache, size_t *entries, size_t *bytes)
{
    pthread_mutex_lock(&cache->lock);
    *entries = cache->entries;
    *bytes = cache->bytes;
    pthread_mutex_unlock(&cache->lock);
}
