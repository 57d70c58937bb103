#include "common/json_text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

/* The text being written by dump_value. */
struct text_buffer {
    char *data;
    size_t len;
    size_t size;
    bool failed; /* out of memory, or a value the fast path leaves alone */
};

/* Moves the text to a buffer of size bytes and wipes the old one. */
static bool
buffer_grow(struct text_buffer *buffer, size_t size)
{
    char *grown = malloc(size);

    if (grown == NULL)
        return false;
    if (buffer->data != NULL) {
        memcpy(grown, buffer->data, buffer->len + 1);
        secret_wipe(buffer->data, buffer->size);
        free(buffer->data);
    }
    buffer->data = grown;
    buffer->size = size;
    return true;
}

static void
buffer_append(struct text_buffer *buffer, const char *bytes, size_t len)
{
    size_t size = buffer->size ? buffer->size : 4096;

    if (buffer->failed)
        return;
    while (buffer->len + len + 1 > size)
        size *= 2;
    if (size != buffer->size && !buffer_grow(buffer, size)) {
        buffer->failed = true;
        return;
    }
    memcpy(buffer->data + buffer->len, bytes, len);
    buffer->len += len;
    buffer->data[buffer->len] = '\0';
}

/* Writes text as a JSON string escaped as jansson 2.14 escapes it without
 * flags. A byte above 0x7f ends the fast path, so that json_dumps checks
 * the UTF-8 and writes the string as before. */
static void
dump_string(struct text_buffer *buffer, const char *text, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    char escape[6];

    buffer_append(buffer, "\"", 1);
    for (size_t i = 0; i < len && !buffer->failed; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c >= 0x80) {
            buffer->failed = true;
            return;
        }
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buffer_append(buffer, text + run, i - run);
        run = i + 1;
        escape[0] = '\\';
        switch (c) {
        case '"':
        case '\\':
            escape[1] = (char)c;
            break;
        case '\b':
            escape[1] = 'b';
            break;
        case '\f':
            escape[1] = 'f';
            break;
        case '\n':
            escape[1] = 'n';
            break;
        case '\r':
            escape[1] = 'r';
            break;
        case '\t':
            escape[1] = 't';
            break;
        default:
            memcpy(escape + 1, "u00", 3);
            escape[4] = hex[c >> 4];
            escape[5] = hex[c & 0x0f];
            buffer_append(buffer, escape, 6);
            continue;
        }
        buffer_append(buffer, escape, 2);
    }
    buffer_append(buffer, text + run, len - run);
    buffer_append(buffer, "\"", 1);
}

/* Writes json as json_dumps(json, JSON_COMPACT) does: members in insertion
 * order, no spaces. Reals and non-ASCII text set buffer->failed. */
static void
dump_value(struct text_buffer *buffer, const json_t *json)
{
    char number[32];
    const char *separator = "";
    void *iter;

    switch (json_typeof(json)) {
    case JSON_OBJECT:
        buffer_append(buffer, "{", 1);
        for (iter = json_object_iter((json_t *)json);
             iter != NULL && !buffer->failed;
             iter = json_object_iter_next((json_t *)json, iter)) {
            buffer_append(buffer, separator, strlen(separator));
            dump_string(buffer, json_object_iter_key(iter),
                        json_object_iter_key_len(iter));
            buffer_append(buffer, ":", 1);
            dump_value(buffer, json_object_iter_value(iter));
            separator = ",";
        }
        buffer_append(buffer, "}", 1);
        break;
    case JSON_ARRAY:
        buffer_append(buffer, "[", 1);
        for (size_t i = 0; i < json_array_size(json) && !buffer->failed;
             i++) {
            buffer_append(buffer, separator, strlen(separator));
            dump_value(buffer, json_array_get(json, i));
            separator = ",";
        }
        buffer_append(buffer, "]", 1);
        break;
    case JSON_STRING:
        dump_string(buffer, json_string_value(json), json_string_length(json));
        break;
    case JSON_INTEGER:
        snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json));
        buffer_append(buffer, number, strlen(number));
        break;
    case JSON_TRUE:
        buffer_append(buffer, "true", 4);
        break;
    case JSON_FALSE:
        buffer_append(buffer, "false", 5);
        break;
    case JSON_NULL:
        buffer_append(buffer, "null", 4);
        break;
    default:
        buffer->failed = true;
        break;
    }
}

char *
json_text_compact(const json_t *json)
{
    struct text_buffer buffer = {0};

    /* json_dumps writes only objects and arrays without JSON_ENCODE_ANY,
     * and returns NULL for anything else, NULL included. */
    if (!json_is_object(json) && !json_is_array(json))
        return json_dumps(json, JSON_COMPACT);
    dump_value(&buffer, json);
    if (!buffer.failed)
        return buffer.data;
    if (buffer.data != NULL) {
        secret_wipe(buffer.data, buffer.size);
        free(buffer.data);
    }
    return json_dumps(json, JSON_COMPACT);
}
