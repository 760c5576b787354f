/* Internal: filling grove_error_t messages. */
#ifndef GROVE_ERROR_H
#define GROVE_ERROR_H

#include "grove_engine.h"

/* Writes a printf-style message into ERR (which may be NULL) and returns CODE. */
grove_err_t grove__error_set(grove_error_t *err, grove_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "PREFIX: " to the message already in ERR, so a loader can name its file. */
void grove__error_prefix(grove_error_t *err, const char *prefix);

#endif /* GROVE_ERROR_H */
