/* Compressed request bodies (content_coding.h), with zlib. */
#include "content_coding.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

content_coding_t content_coding_of(const char *value, size_t len) {
  if (value == NULL) return CONTENT_IDENTITY;
  while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) len--;
  while (len > 0 && (*value == ' ' || *value == '\t')) value++, len--;
  static const char *const compressed[] = {"gzip", "x-gzip", "deflate"};
  if (len == 0 || (len == 8 && strncasecmp(value, "identity", 8) == 0)) return CONTENT_IDENTITY;
  for (size_t i = 0; i < sizeof compressed / sizeof compressed[0]; i++)
    if (len == strlen(compressed[i]) && strncasecmp(value, compressed[i], len) == 0)
      return CONTENT_COMPRESSED;
  return CONTENT_UNSUPPORTED;
}

/* One inflate pass with WINDOW_BITS (15 + 32: gzip or zlib by their header; -15: raw). */
static int inflate_with(const char *in, size_t len, int window_bits, size_t max_out, char **out,
                        size_t *out_len, char *msg, size_t msg_size) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, window_bits) != Z_OK) {
    snprintf(msg, msg_size, "out of memory");
    return 500;
  }
  size_t cap = len * 4 < 64 * 1024 ? 64 * 1024 : len * 4, used = 0;
  if (cap > max_out + 1) cap = max_out + 1; /* one byte past the limit tells it is passed */
  char *buf = malloc(cap);
  int rc = buf == NULL ? 500 : 0, zrc = Z_OK;
  z.next_in = (Bytef *)in;
  while (rc == 0 && zrc != Z_STREAM_END) {
    size_t left = len - (size_t)((const char *)z.next_in - in);
    z.avail_in = left > UINT32_MAX ? UINT32_MAX : (uInt)left;
    if (used == cap) {
      size_t grown = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
      char *p = grown > cap ? realloc(buf, grown) : NULL;
      if (p == NULL) {
        rc = grown > cap ? 500 : 413;
        break;
      }
      buf = p;
      cap = grown;
    }
    z.next_out = (Bytef *)buf + used;
    z.avail_out = (uInt)(cap - used > UINT32_MAX ? UINT32_MAX : cap - used);
    zrc = inflate(&z, Z_NO_FLUSH);
    used = cap - z.avail_out;
    if (used > max_out)
      rc = 413;
    else if (zrc == Z_BUF_ERROR && z.avail_in == 0 && used < cap)
      rc = 400; /* cut short */
    else if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
      rc = 400;
  }
  if (rc == 0 && z.avail_in != 0) rc = 400; /* bytes after the stream */
  inflateEnd(&z);
  if (rc == 413)
    snprintf(msg, msg_size, "the body inflates to more than the %zu-byte body limit (--max-body)",
             max_out);
  else if (rc == 400)
    snprintf(msg, msg_size, "the body is not a whole %s stream, as its Content-Encoding says",
             window_bits < 0 ? "deflate" : "gzip or zlib");
  else if (rc == 500)
    snprintf(msg, msg_size, "out of memory inflating the body");
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *out = buf;
  *out_len = used;
  return 0;
}

int content_coding_inflate(const char *in, size_t len, size_t max_out, char **out, size_t *out_len,
                           char *msg, size_t msg_size) {
  int rc = inflate_with(in, len, 15 + 32, max_out, out, out_len, msg, msg_size);
  /* "deflate" has meant raw deflate to some clients since the 90s: try that before refusing. */
  if (rc == 400 && len > 0 && (unsigned char)in[0] != 0x1f && ((unsigned char)in[0] & 0x0f) != 8)
    rc = inflate_with(in, len, -15, max_out, out, out_len, msg, msg_size);
  return rc;
}
