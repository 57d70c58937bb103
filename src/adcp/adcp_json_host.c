/*
 * JSON to ADCP: the host object of a host_register request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adcp/adcp.h"
#include "adcp/adcp_internal.h"
#include "adcp/adcp_json_internal.h"

/* Each DNS name or IP address is at most as long as the longest DNS name;
 * the host manager checks what each entry means. */
#define HOST_ITEM_MAX_LEN 253
#define HOST_ITEMS_MAX 100

/* Checks one entry of a list; path names the entry, as "dns_names[2]". */
static enum adcp_status
check_list_item(const json_t *item, const char *path, struct adcp_error *err)
{
    char shown[ADCP_QUOTE_MAX];
    const char *text;

    if (!json_is_string(item))
        return adcp_json_type_error(err, path, item, "a string");
    text = json_string_value(item);
    adcp_quote_string(text, shown, sizeof(shown));
    if (strlen(text) != json_string_length(item))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s contains a NUL character; remove it", path);
    if (text[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s is empty; remove the entry or fill it in",
                              path);
    if (strlen(text) > HOST_ITEM_MAX_LEN)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s %s is %zu bytes long; the maximum is %d",
                              path, shown, strlen(text), HOST_ITEM_MAX_LEN);
    if (adcp_json_has_control_char(text))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s %s contains a control character; "
                              "remove it", path, shown);
    return ADCP_OK;
}

/* Copies the checked strings of array into a new heap array. */
static enum adcp_status
copy_list(const json_t *array, const char *path, char ***items,
          size_t *count, struct adcp_error *err)
{
    size_t size = json_array_size(array);
    char **copy = calloc(size > 0 ? size : 1, sizeof(*copy));
    enum adcp_status rc = ADCP_ERR_INTERNAL;

    if (copy == NULL)
        goto out;
    for (size_t i = 0; i < size; i++) {
        copy[i] = strdup(json_string_value(json_array_get(array, i)));
        if (copy[i] == NULL) {
            adcp_string_array_free(copy, i);
            copy = NULL;
            goto out;
        }
    }
    *items = copy;
    *count = size;
    rc = ADCP_OK;
out:
    if (rc != ADCP_OK)
        adcp_error_set(err, ADCP_ERR_INTERNAL, path,
                       "out of memory while reading %s", path);
    return rc;
}

/* Reads an array of non-empty strings, such as host.dns_names. */
static enum adcp_status
decode_list(const json_t *object, const char *prefix, const char *key,
            char ***items, size_t *count, struct adcp_error *err)
{
    char path[ADCP_PATH_LEN];
    char item_path[ADCP_PATH_LEN + 24];
    const json_t *array = adcp_json_member(object, key);
    enum adcp_status rc;

    if (array == NULL)
        return ADCP_OK;
    adcp_json_path(prefix, key, path);
    if (!json_is_array(array))
        return adcp_json_type_error(err, path, array, "an array of strings");
    if (json_array_size(array) > HOST_ITEMS_MAX)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s has %zu entries; the maximum is %d", path,
                              json_array_size(array), HOST_ITEMS_MAX);
    for (size_t i = 0; i < json_array_size(array); i++) {
        snprintf(item_path, sizeof(item_path), "%s[%zu]", path, i);
        rc = check_list_item(json_array_get(array, i), item_path, err);
        if (rc != ADCP_OK)
            return rc;
    }
    return copy_list(array, path, items, count, err);
}

/* Reads name, dns_names and ip_addresses of object; prefix is "host" for
 * the nested form and "" for the flat one. */
static enum adcp_status
decode_host_members(const json_t *object, const char *prefix,
                    struct adcp_host_info *out, struct adcp_error *err)
{
    enum adcp_status rc;

    out->present = true;
    rc = adcp_json_string(object, prefix, "name", ADCP_CHECK_PLAIN_NAME,
                          out->name, sizeof(out->name), err);
    if (rc == ADCP_OK)
        rc = decode_list(object, prefix, "dns_names", &out->dns_names,
                         &out->dns_count, err);
    if (rc == ADCP_OK)
        rc = decode_list(object, prefix, "ip_addresses", &out->ip_addresses,
                         &out->ip_count, err);
    return rc;
}

static bool
has_flat_host(const json_t *body)
{
    return adcp_json_member(body, "name") != NULL ||
           adcp_json_member(body, "dns_names") != NULL ||
           adcp_json_member(body, "ip_addresses") != NULL;
}

enum adcp_status
adcp_json_decode_host(const json_t *body, struct adcp_host_info *out,
                      struct adcp_error *err)
{
    const json_t *host = adcp_json_member(body, "host");
    bool flat = has_flat_host(body);

    if (host != NULL && flat)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "host",
                              "the body has both a host object and "
                              "top-level name, dns_names or ip_addresses; "
                              "send only one of the two forms");
    if (json_is_string(host)) {
        /* "host": "SE" is short for "host": {"name": "SE"}. */
        json_t *named = json_pack("{s:O}", "name", host);
        enum adcp_status rc = decode_host_members(named, "host", out, err);
        json_decref(named);
        return rc;
    }
    if (host != NULL) {
        if (!json_is_object(host))
            return adcp_json_type_error(err, "host", host,
                                        "an object or a host name");
        return decode_host_members(host, "host", out, err);
    }
    if (flat)
        return decode_host_members(body, "", out, err);
    return ADCP_OK;
}
