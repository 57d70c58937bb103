/*
 * Compact JSON text, as json_dumps(json, JSON_COMPACT) writes it, for the
 * messages the service writes on every request: response bodies and audit
 * entries.
 */
#ifndef HSM4SSL_COMMON_JSON_TEXT_H
#define HSM4SSL_COMMON_JSON_TEXT_H

#include <jansson.h>

/*
 * Returns json as compact text, members in insertion order, or NULL when
 * out of memory. The text equals json_dumps(json, JSON_COMPACT), which
 * decodes the UTF-8 of every character: 22 us for a 2.3 KB certificate
 * response on the benchmark machine of docs/benchmarks.md, against 6 us
 * here. Values with reals or non-ASCII text still go through json_dumps.
 * Buffers outgrown on the way are wiped, because the text may hold a
 * secret meant for the caller. Free the text with free().
 */
char *json_text_compact(const json_t *json);

#endif
