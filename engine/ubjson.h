/* Internal: UBJSON -> json-c, for XGBoost's binary JSON models (.ubj). */
#ifndef GROVE_UBJSON_H
#define GROVE_UBJSON_H

#include <json-c/json.h>
#include <stddef.h>
#include <string.h>

/*
 * Parses one UBJSON object filling all of DATA. Returns a tree the caller frees with
 * json_object_put(), or NULL with a message in MSG (MSGLEN bytes).
 */
json_object *grove_ubjson_parse(const char *data, size_t len, char *msg, size_t msglen);

/* UBJSON opens an object with '{' followed by a length marker or a container option. */
static inline int grove_ubjson_sniff(const char *data, size_t len) {
  return len >= 2 && data[0] == '{' && data[1] != '\0' && strchr("UiIlL$#", data[1]) != NULL;
}

#endif /* GROVE_UBJSON_H */
