/* Internal: UBJSON -> json-c, for XGBoost's binary JSON models (.ubj). */
#ifndef GROVE_UBJSON_H
#define GROVE_UBJSON_H

#include <json-c/json.h>
#include <stddef.h>

/*
 * Parses one UBJSON object filling all of DATA. Returns a tree the caller frees with
 * json_object_put(), or NULL with a message in MSG (MSGLEN bytes).
 */
json_object *grove__ubjson_parse(const char *data, size_t len, char *msg, size_t msglen);

#endif /* GROVE_UBJSON_H */
