/* logfmt lines on stdout, each written with one write(2) so threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

void log_event(const char *level, const char *msg, const char *fmt, ...) {
  char line[2048];
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s msg=\"%s\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (int)(tv.tv_usec / 1000), level, msg);
  if (n < 0 || (size_t)n >= sizeof line - 2) n = (int)strlen(line);
  if (fmt != NULL && fmt[0] != '\0') {
    line[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m > 0)
      n += (size_t)m < sizeof line - (size_t)n - 1 ? m : (int)(sizeof line - (size_t)n - 2);
  }
  line[n++] = '\n';
  ssize_t ignored = write(STDOUT_FILENO, line, (size_t)n);
  (void)ignored;
}

const char *log_quote(const char *text, char *buf, size_t size) {
  size_t n = 0;
  if (size == 0) return buf;
  for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
    char esc[5];
    int len;
    if (*p == '"' || *p == '\\')
      len = snprintf(esc, sizeof esc, "\\%c", *p);
    else if (*p == '\n')
      len = snprintf(esc, sizeof esc, "\\n");
    else if (*p == '\t')
      len = snprintf(esc, sizeof esc, "\\t");
    else if (*p < 0x20 || *p == 0x7f)
      len = snprintf(esc, sizeof esc, "\\x%02x", *p);
    else
      len = snprintf(esc, sizeof esc, "%c", *p);
    if (n + (size_t)len >= size) break; /* whole escapes only: never a dangling backslash */
    memcpy(buf + n, esc, (size_t)len);
    n += (size_t)len;
  }
  buf[n] = '\0';
  return buf;
}
