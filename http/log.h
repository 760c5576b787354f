/* One line per event on stdout, logfmt: ts=... level=... msg="..." key=value ... */
#ifndef GROVE_LOG_H
#define GROVE_LOG_H

#include <stddef.h>

/* LEVEL is "info", "warn" or "error"; FMT continues the line after msg (key=value pairs,
 * the caller quotes values that may hold spaces). Thread-safe: one write per line. */
void log_event(const char *level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* TEXT as the inside of a logfmt quoted value (backslash before '"' and '\\', control bytes
 * as \n, \t or \xHH) in BUF of SIZE bytes, cut short if need be. Returns BUF. */
const char *log_quote(const char *text, char *buf, size_t size);

#endif /* GROVE_LOG_H */
