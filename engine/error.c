/* Error codes and messages (the table lives in grove_engine.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Every code with its name and message, from the one table in grove_engine.h. */
typedef struct {
  int code;
  const char *name, *message;
} error_entry_t;

static const error_entry_t errors[] = {{GROVE_OK, "OK", "success"},
#define XX(name, code, str) {GROVE_##name, #name, str},
                                       GROVE_ERRNO_MAP(XX)
#undef XX
};

static const error_entry_t *error_entry(int err) {
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
    if (errors[i].code == err) return &errors[i];
  return NULL;
}

const char *grove_strerror(int err) {
  const error_entry_t *e = error_entry(err);
  return e ? e->message : "unknown error";
}

const char *grove_err_name(int err) {
  const error_entry_t *e = error_entry(err);
  return e ? e->name : "EUNKNOWN";
}

grove_err_t grove__error_set(grove_error_t *err, grove_err_t code, const char *fmt, ...) {
  if (err != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

void grove__error_prefix(grove_error_t *err, const char *prefix) {
  if (err == NULL || prefix == NULL) return;
  /* Shift the message right and copy the prefix in front; truncation keeps the start. */
  size_t cap = sizeof err->msg - 1, plen = strlen(prefix), mlen = strnlen(err->msg, cap);
  if (plen + 2 > cap) plen = cap - 2;
  if (mlen > cap - plen - 2) mlen = cap - plen - 2;
  memmove(err->msg + plen + 2, err->msg, mlen);
  memcpy(err->msg, prefix, plen);
  memcpy(err->msg + plen, ": ", 2);
  err->msg[plen + 2 + mlen] = '\0';
}
