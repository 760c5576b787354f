/*
 * The UI's static files (ui_files.h). h2o's file handler follows symbolic links out of its
 * directory, serves dotfiles, and picks a Content-Type from a path that a %00 cut short;
 * this handler serves a table read at start-up instead: a request path is only ever a key
 * into it, compared byte for byte, so ".." tricks, links and NULs have nothing to reach.
 */
#include "ui_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "request.h"
#include "respond.h"

/* Bounds on what start-up reads (a --ui pointed at a big tree must not read it all). */
enum { UI_MAX_FILES = 2000, UI_MAX_DEPTH = 8 };
#define UI_MAX_BYTES ((size_t)64 << 20)

typedef struct {
  char *path;       /* "/index.html", "/vendor/uPlot/uPlot.min.css" */
  size_t path_len;  /* without the NUL */
  const char *type; /* Content-Type, from the extension */
  char *data;
  size_t len;
  char etag[24];          /* "\"<16 hex digits of FNV-1a>\"" */
  char last_modified[40]; /* IMF-fixdate of the file's mtime */
} ui_file_t;

typedef struct {
  h2o_handler_t super; /* first: h2o hands this pointer back */
  ui_file_t *files;    /* sorted by path */
  size_t count, cap, bytes;
  int missing; /* DIR could not be opened: "/" says so */
  int full;    /* a bound was reached: the rest was skipped (logged once) */
} ui_table_t;

/* ---- content types ---- */

static const char *type_of(const char *path) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"woff2", "font/woff2"},
      {"woff", "font/woff"},
      {"txt", "text/plain; charset=utf-8"},
      {"md", "text/plain; charset=utf-8"},
      {"csv", "text/csv; charset=utf-8"},
      {"wasm", "application/wasm"},
  };
  const char *base = strrchr(path, '/'), *dot = strrchr(base ? base : path, '.');
  if (dot != NULL)
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
  return "application/octet-stream";
}

/* ---- reading DIR at start-up ---- */

/* Reads the regular file NAME of directory DFD (not through a link) into F; 0 or -1. */
static int read_file_at(int dfd, const char *name, ui_file_t *f) {
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      (f->data = malloc((size_t)st.st_size + 1)) == NULL) {
    close(fd);
    return -1;
  }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, f->data + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  f->len = got;
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: the ETag only has to change with the bytes */
  for (size_t i = 0; i < got; i++) h = (h ^ (unsigned char)f->data[i]) * 0x100000001b3ull;
  snprintf(f->etag, sizeof f->etag, "\"%016llx\"", (unsigned long long)h);
  struct tm tm;
  gmtime_r(&st.st_mtime, &tm);
  strftime(f->last_modified, sizeof f->last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return got == (size_t)st.st_size ? 0 : -1;
}

/* Adds file NAME of DFD as URL path PREFIX/NAME; 0, or -1 when a bound is reached. */
static int add_file(ui_table_t *t, int dfd, const char *prefix, const char *name) {
  if (t->count == UI_MAX_FILES || t->bytes >= UI_MAX_BYTES) return -1;
  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 32;
    ui_file_t *files = realloc(t->files, cap * sizeof *files);
    if (files == NULL) return -1;
    t->files = files;
    t->cap = cap;
  }
  ui_file_t f = {0};
  size_t plen = strlen(prefix) + 1 + strlen(name);
  if ((f.path = malloc(plen + 1)) == NULL) return -1;
  snprintf(f.path, plen + 1, "%s/%s", prefix, name);
  f.path_len = plen;
  f.type = type_of(f.path);
  if (read_file_at(dfd, name, &f) != 0) { /* vanished, unreadable or special: not served */
    free(f.path);
    free(f.data);
    return 0;
  }
  t->bytes += f.len;
  t->files[t->count++] = f;
  return 0;
}

/*
 * Reads directory DFD (closed here), whose URL path is PREFIX, DEPTH levels below DIR:
 * regular files and subdirectories, never through a symbolic link, never a dotfile.
 */
static void add_dir(ui_table_t *t, int dfd, const char *prefix, int depth) {
  DIR *d = fdopendir(dfd);
  if (d == NULL) {
    close(dfd);
    return;
  }
  struct dirent *de;
  while (!t->full && (de = readdir(d)) != NULL) {
    struct stat st;
    if (de->d_name[0] == '.' || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      t->full = add_file(t, dfd, prefix, de->d_name) != 0;
    } else if (S_ISDIR(st.st_mode) && depth < UI_MAX_DEPTH) {
      char sub[1024];
      int sfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if ((size_t)snprintf(sub, sizeof sub, "%s/%s", prefix, de->d_name) >= sizeof sub) {
        if (sfd >= 0) close(sfd);
      } else if (sfd >= 0) {
        add_dir(t, sfd, sub, depth + 1);
      }
    }
  }
  closedir(d);
}

static int compare_files(const void *a, const void *b) {
  return strcmp(((const ui_file_t *)a)->path, ((const ui_file_t *)b)->path);
}

/* ---- serving ---- */

/* The file at PATH (LEN bytes), or NULL. */
static const ui_file_t *lookup(const ui_table_t *t, const char *path, size_t len) {
  size_t lo = 0, hi = t->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const ui_file_t *f = &t->files[mid];
    size_t n = f->path_len < len ? f->path_len : len;
    int c = memcmp(f->path, path, n);
    if (c == 0) c = f->path_len < len ? -1 : f->path_len > len ? 1 : 0;
    if (c == 0) return f;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static void add_header(h2o_req_t *req, const char *name, const char *value) {
  h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, value,
                        strlen(value));
}

/* X-Content-Type-Options: nosniff, unless the router has already added it. */
static void add_nosniff(h2o_req_t *req) {
  if (h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-content-type-options"), -1) < 0)
    add_header(req, "x-content-type-options", "nosniff");
}

/* A short plain-text answer (errors, the missing-UI page). */
static void send_text(h2o_req_t *req, double t0, int status, const char *text) {
  add_nosniff(req);
  respond_bytes(server_io_of(req), req, METRICS_ROUTE_STATIC, t0, status,
                "text/plain; charset=utf-8", text, strlen(text));
}

/* Whether REQ's If-None-Match names ETAG (or is "*"). */
static int not_modified(h2o_req_t *req, const char *etag) {
  const char *v;
  size_t n;
  if (!request_header(req, H2O_TOKEN_IF_NONE_MATCH, &v, &n)) return 0;
  size_t elen = strlen(etag);
  if (n == 1 && v[0] == '*') return 1;
  for (size_t i = 0; i + elen <= n; i++) /* a list: "a", W/"b", ... */
    if (memcmp(v + i, etag, elen) == 0) return 1;
  return 0;
}

static void send_file(h2o_req_t *req, double t0, const ui_file_t *f) {
  io_thread_t *io = server_io_of(req);
  add_nosniff(req);
  add_header(req, "cache-control", "no-cache"); /* revalidate: the ETag makes that cheap */
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, f->etag, strlen(f->etag));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LAST_MODIFIED, NULL, f->last_modified,
                 strlen(f->last_modified));
  if (!not_modified(req, f->etag)) {
    respond_bytes(io, req, METRICS_ROUTE_STATIC, t0, 200, f->type, f->data, f->len);
    return;
  }
  static h2o_generator_t generator = {NULL, NULL};
  req->res.status = 304;
  req->res.reason = "Not Modified";
  if (io->stopping) req->http1_is_persistent = 0;
  metrics_request_done(io->s->metrics, METRICS_ROUTE_STATIC, 304, batcher_now() - t0);
  h2o_start_response(req, &generator);
  h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

/* 1 when PATH has a control byte (a decoded %00, CR, LF, ... DEL). */
static int has_control(h2o_iovec_t path) {
  for (size_t i = 0; i < path.len; i++)
    if ((unsigned char)path.base[i] < 0x20 || path.base[i] == 0x7f) return 1;
  return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
  const ui_table_t *t = (const ui_table_t *)self;
  double t0 = batcher_now();
  h2o_iovec_t path = req->path_normalized;
  if (!request_method_is(req, "GET") && !request_method_is(req, "HEAD")) {
    add_header(req, "allow", "GET, HEAD");
    send_text(req, t0, 405, "method not allowed: the UI's files take GET and HEAD\n");
    return 0;
  }
  if (has_control(path)) {
    send_text(req, t0, 400, "bad path: control characters\n");
    return 0;
  }
  const ui_file_t *f = NULL;
  if (path.len > 0 && path.base[path.len - 1] == '/') { /* a directory: its index.html */
    char *index = h2o_mem_alloc_pool(&req->pool, path.len + 10);
    memcpy(index, path.base, path.len);
    memcpy(index + path.len, "index.html", 10);
    f = lookup(t, index, path.len + 10);
  } else {
    f = lookup(t, path.base, path.len);
  }
  if (f != NULL)
    send_file(req, t0, f);
  else if (t->missing) /* every UI path, so that a bookmark or /admin says it too */
    send_text(req, t0, 404,
              "grove: the web UI is missing: its directory cannot be read (the server's log "
              "names it). Start grove with --ui DIR or GROVE_UI=DIR naming grove's ui "
              "directory. The API works: GET /v1/models, POST /v1/models/{name}/predict.\n");
  else
    send_text(req, t0, 404, "not found\n");
  return 0;
}

static void on_dispose(h2o_handler_t *self) {
  ui_table_t *t = (ui_table_t *)self;
  for (size_t i = 0; i < t->count; i++) {
    free(t->files[i].path);
    free(t->files[i].data);
  }
  free(t->files);
}

void ui_files_register(h2o_pathconf_t *root, const char *dir) {
  ui_table_t *t = (ui_table_t *)h2o_create_handler(root, sizeof *t);
  t->super.on_req = on_req;
  t->super.dispose = on_dispose;
  t->files = NULL;
  t->count = t->cap = t->bytes = 0;
  t->missing = t->full = 0;
  char q[1024];
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* DIR itself may be a link */
  if (dfd < 0) {
    const char *why = strerror(errno);
    t->missing = 1;
    log_event("warn", "the UI directory cannot be read: no web UI, the API works",
              "dir=\"%s\" error=\"%s\" fix=\"set --ui DIR or GROVE_UI to grove's ui directory\"",
              log_quote(dir, q, sizeof q), why);
    return;
  }
  add_dir(t, dfd, "", 0);
  if (t->count > 1) qsort(t->files, t->count, sizeof *t->files, compare_files);
  if (t->full)
    log_event("warn", "the UI directory is too large: only part of it is served",
              "dir=\"%s\" files=%zu bytes=%zu", log_quote(dir, q, sizeof q), t->count, t->bytes);
  if (lookup(t, "/index.html", 11) == NULL)
    log_event("warn", "the UI directory has no index.html: / answers 404", "dir=\"%s\"",
              log_quote(dir, q, sizeof q));
}
