/* One line per event on stdout, logfmt: ts=... level=... msg="..." key=value ... */
#ifndef GROVE_LOG_H
#define GROVE_LOG_H

/* LEVEL is "info", "warn" or "error"; FMT continues the line after msg (key=value pairs,
 * the caller quotes values that may hold spaces). Thread-safe: one write per line. */
void log_event(const char *level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* GROVE_LOG_H */
