/*
 * /admin: model reloads, the settings in force, the dashboard; and who may use them.
 *
 * Who: with --admin-token, whoever sends it (Authorization: Bearer, the scheme in any case),
 * compared in constant time, with repeated wrong tokens from one address answered 429 for a
 * while. Without a token, only a request that is plainly from this machine: a loopback peer,
 * no proxy header (Forwarded, X-Forwarded-*, X-Real-IP, Via), a loopback Host (so that a
 * DNS-rebound page cannot pass), and no cross-site browser request (Origin, Sec-Fetch-Site).
 * A relay that adds none of those headers (a plain TCP forwarder, nginx's default
 * proxy_pass) still looks local: the README says to set a token behind any proxy.
 */
#include "handlers.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "buf.h"
#include "log.h"
#include "request.h"
#include "respond.h"
#include "version.h"

/* ---- the client's address ---- */

/* REQ's peer as 16 bytes: IPv4 as ::ffff:a.b.c.d, IPv6 cut to its /64 (one client owns a
 * whole /64), anything else all zeros. Returns the address family. */
static int client_key(h2o_req_t *req, uint8_t key[16]) {
  struct sockaddr_storage ss;
  memset(key, 0, 16);
  socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
  if (len == 0) return AF_UNSPEC;
  if (ss.ss_family == AF_INET) {
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    memcpy(key, a->s6_addr, IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_LOOPBACK(a) ? 16 : 8);
  }
  return ss.ss_family;
}

static int peer_is_loopback(h2o_req_t *req) {
  uint8_t k[16];
  static const uint8_t v6_loopback[16] = {[15] = 1};
  switch (client_key(req, k)) {
    case AF_INET:
    case AF_INET6:
      return (k[10] == 0xff && k[11] == 0xff && k[12] == 127 && memcmp(k, v6_loopback, 10) == 0) ||
             memcmp(k, v6_loopback, 16) == 0;
    case AF_UNIX:
      return 1;
    default:
      return 0;
  }
}

/* ---- trust without a token ---- */

/* The first header of REQ that a proxy adds (as usually spelled), or NULL. */
static const char *relay_header(h2o_req_t *req) {
  static const char *const names[][2] = {{"forwarded", "Forwarded"},
                                         {"x-forwarded-for", "X-Forwarded-For"},
                                         {"x-forwarded-host", "X-Forwarded-Host"},
                                         {"x-forwarded-proto", "X-Forwarded-Proto"},
                                         {"x-real-ip", "X-Real-IP"},
                                         {"via", "Via"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (h2o_find_header_by_str(&req->headers, names[i][0], strlen(names[i][0]), -1) >= 0)
      return names[i][1];
  return NULL;
}

/* Whether HOST (a Host header or :authority, port and all) names this machine's loopback. */
static int host_is_loopback(h2o_iovec_t host) {
  char name[256];
  const char *p = host.base, *end = host.base + host.len;
  if (host.len > 0 && p[0] == '[') { /* [v6]:port */
    const char *close = memchr(p, ']', host.len);
    if (close == NULL) return 0;
    p++;
    end = close;
  } else {
    const char *colon = memchr(p, ':', host.len);
    if (colon != NULL) end = colon;
  }
  size_t n = (size_t)(end - p);
  if (n == 0 || n >= sizeof name) return 0;
  memcpy(name, p, n);
  name[n] = '\0';
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, name, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, name, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  static const char suffix[] = ".localhost"; /* RFC 6761: always loopback */
  return strcasecmp(name, "localhost") == 0 ||
         (n > sizeof suffix - 1 && strcasecmp(name + n - (sizeof suffix - 1), suffix) == 0);
}

/* Whether a browser says REQ comes from a page of another origin. */
static int cross_site(h2o_req_t *req) {
  ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-fetch-site"), -1);
  if (i >= 0) {
    h2o_iovec_t v = req->headers.entries[i].value;
    if (!h2o_memis(v.base, v.len, H2O_STRLIT("same-origin")) &&
        !h2o_memis(v.base, v.len, H2O_STRLIT("none")))
      return 1;
  }
  if ((i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1)) < 0) return 0;
  const char *o = req->headers.entries[i].value.base;
  size_t n = req->headers.entries[i].value.len;
  size_t skip = n > 7 && strncasecmp(o, "http://", 7) == 0    ? 7
                : n > 8 && strncasecmp(o, "https://", 8) == 0 ? 8
                                                              : 0;
  return skip == 0 || n - skip != req->input.authority.len ||
         strncasecmp(o + skip, req->input.authority.base, req->input.authority.len) != 0;
}

/* Why REQ is not trusted as local (MSG, LEN bytes), or NULL when it is. */
static const char *not_local(h2o_req_t *req, char *msg, size_t len) {
  const char *header;
  if (!peer_is_loopback(req))
    return "admin endpoints answer only loopback clients when no --admin-token is set";
  if ((header = relay_header(req)) != NULL) {
    snprintf(
        msg, len,
        "this request came through a proxy (it has a %s header): without --admin-token, /admin "
        "answers only clients on this machine that connect directly; set --admin-token and "
        "send Authorization: Bearer TOKEN",
        header);
    return msg;
  }
  if (req->input.authority.len > 0 && !host_is_loopback(req->input.authority))
    return "the Host of this request is not a loopback name: without --admin-token, /admin answers "
           "only requests to localhost, 127.0.0.1 or [::1]; set --admin-token to use another name";
  if (cross_site(req))
    return "cross-site request refused: without --admin-token, /admin answers only pages served by "
           "this server (Origin / Sec-Fetch-Site)";
  return NULL;
}

/* ---- the token ---- */

/* The credentials of "Bearer CREDENTIALS" (the scheme in any case, RFC 7235), or 0. */
static int bearer_credentials(const char *v, size_t n, const char **cred, size_t *len) {
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  if (n < 8 || strncasecmp(v, "bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t')) return 0;
  size_t i = 7;
  while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
  *cred = v + i;
  *len = n - i;
  return *len > 0;
}

/* A == B, in a time that depends on the longer length only: every byte of it is compared. */
static int same_secret(const char *a, size_t alen, const char *b, size_t blen) {
  size_t n = alen > blen ? alen : blen;
  volatile unsigned char diff = alen != blen;
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)((i < alen ? a[i] : 0) ^ (i < blen ? b[i] : 0));
  return diff == 0;
}

/*
 * Wrong tokens per client: after AUTH_MAX_FAILURES within AUTH_WINDOW_S from one address, its
 * admin requests get 429 for AUTH_BLOCK_S, right token or not. One small table shared by the
 * I/O threads under a lock (admin requests are rare); when it is full, the address seen
 * longest ago gives its slot up, blocked ones last.
 */
enum { AUTH_SLOTS = 256, AUTH_MAX_FAILURES = 5 };
#define AUTH_WINDOW_S 10.0
#define AUTH_BLOCK_S  30.0

typedef struct {
  uint8_t key[16];
  int used;
  unsigned failures;    /* within the window that began at FIRST */
  double first, last;   /* batcher_now() of the window's first failure, of the last one */
  double blocked_until; /* 429 until then */
} auth_slot_t;

static struct {
  pthread_mutex_t lock;
  auth_slot_t slots[AUTH_SLOTS];
} auth_limits = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Whether slot A gives its place up before B: a free one first, then one not blocked, then
 * the one whose last failure is the oldest. */
static int evict_before(const auth_slot_t *a, const auth_slot_t *b, double now) {
  if (a->used != b->used) return !a->used;
  int a_blocked = a->blocked_until > now, b_blocked = b->blocked_until > now;
  if (a_blocked != b_blocked) return !a_blocked;
  return a->last < b->last;
}

/* KEY's slot (lock held); with CREATE, a new or recycled one when it has none. */
static auth_slot_t *auth_slot(const uint8_t key[16], double now, int create) {
  auth_slot_t *victim = &auth_limits.slots[0];
  for (size_t i = 0; i < AUTH_SLOTS; i++) {
    auth_slot_t *s = &auth_limits.slots[i];
    if (s->used && memcmp(s->key, key, 16) == 0) return s;
    if (evict_before(s, victim, now)) victim = s;
  }
  if (!create) return NULL;
  *victim = (auth_slot_t){.used = 1, .first = now};
  memcpy(victim->key, key, 16);
  return victim;
}

/* Seconds KEY is still blocked for (0: not blocked). */
static double auth_blocked_for(const uint8_t key[16], double now) {
  pthread_mutex_lock(&auth_limits.lock);
  auth_slot_t *s = auth_slot(key, now, 0);
  double left = s != NULL ? s->blocked_until - now : 0;
  pthread_mutex_unlock(&auth_limits.lock);
  return left > 0 ? left : 0;
}

/* Counts a wrong token from KEY; 1 when this one gets it blocked. */
static int auth_failed(const uint8_t key[16], double now) {
  pthread_mutex_lock(&auth_limits.lock);
  auth_slot_t *s = auth_slot(key, now, 1);
  if (now - s->first > AUTH_WINDOW_S) {
    s->failures = 0;
    s->first = now;
  }
  s->last = now;
  int blocked = ++s->failures >= AUTH_MAX_FAILURES;
  if (blocked) {
    s->blocked_until = now + AUTH_BLOCK_S;
    s->failures = 0;
  }
  pthread_mutex_unlock(&auth_limits.lock);
  return blocked;
}

static void auth_succeeded(const uint8_t key[16], double now) {
  pthread_mutex_lock(&auth_limits.lock);
  auth_slot_t *s = auth_slot(key, now, 0);
  if (s != NULL) s->used = 0;
  pthread_mutex_unlock(&auth_limits.lock);
}

/* With --admin-token: answers 429 or 401 and returns 1 unless REQ has the token. */
static int token_refused(io_thread_t *io, h2o_req_t *req, double t0, const char *token) {
  uint8_t key[16];
  client_key(req, key);
  double now = batcher_now(), wait = auth_blocked_for(key, now);
  if (wait > 0) {
    char secs[24];
    int n = snprintf(secs, sizeof secs, "%.0f", ceil(wait));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&req->pool, secs, (size_t)n).base, (size_t)n);
    respond_error(io, req, METRICS_ROUTE_ADMIN, t0, 429, API_JSON,
                  "too many wrong admin tokens from this address: try again after Retry-After "
                  "seconds");
    return 1;
  }
  const char *v, *cred;
  size_t n, len;
  int sent = request_header(req, H2O_TOKEN_AUTHORIZATION, &v, &n);
  if (sent && bearer_credentials(v, n, &cred, &len) &&
      same_secret(cred, len, token, strlen(token))) {
    auth_succeeded(key, now);
    return 0;
  }
  if (sent && auth_failed(key, now)) /* a request without credentials guesses nothing */
    log_event("warn", "admin: too many wrong tokens; the address is refused for a while",
              "seconds=%.0f", AUTH_BLOCK_S);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                 H2O_STRLIT("Bearer realm=\"grove admin\""));
  respond_error(io, req, METRICS_ROUTE_ADMIN, t0, 401, API_JSON,
                sent ? "wrong admin token (Authorization: Bearer ...)"
                     : "missing admin token (Authorization: Bearer ...)");
  return 1;
}

/* Answers 401/403/429 and returns 1 when REQ may not use /admin. */
static int admin_refused(io_thread_t *io, h2o_req_t *req, double t0) {
  const char *token = io->s->cfg->admin_token;
  if (token != NULL && token[0] != '\0') return token_refused(io, req, t0, token);
  char msg[400];
  const char *why = not_local(req, msg, sizeof msg);
  if (why == NULL) return 0;
  respond_error(io, req, METRICS_ROUTE_ADMIN, t0, 403, API_JSON, why);
  return 1;
}

/* ---- POST /admin/models/{name}/reload ---- */

/*
 * A reload request waiting for its answer. The registry's reload thread calls done(), which
 * only copies the outcome and wakes this loop through ANSWER; the loop answers. At shutdown
 * (server.c calls registry_cancel_waiters() for this loop) cancelled() answers 503 instead.
 * Freed when ANSWER is closed; h2o may dispose of the request first (client gone).
 */
typedef struct {
  registry_waiter_t waiter; /* first: the registry's callbacks cast back */
  uv_async_t answer;
  io_thread_t *io;
  h2o_req_t *req; /* NULL once h2o has disposed of it or it is answered */
  void **slot;    /* the request pool's pointer to us, cleared by its disposer */
  double t0;
  registry_reload_result_t res; /* written by done() before it wakes the loop */
  size_t name_len;
  char name[]; /* the model's name, NUL-terminated */
} reload_t;

static void on_reload_dispose(void *ptr) {
  reload_t *r = *(reload_t **)ptr;
  if (r == NULL) return;
  r->req = NULL;
  r->slot = NULL;
}

static void reload_free(uv_handle_t *h) { free(h->data); }

/* Lets go of the request and frees R once its wake-up handle is closed. */
static void reload_finish(reload_t *r) {
  if (r->slot != NULL) *r->slot = NULL;
  r->slot = NULL;
  r->req = NULL;
  uv_close((uv_handle_t *)&r->answer, reload_free);
}

/* The reload thread, registry lock held: hand the outcome over, wake the loop. */
static void reload_done(registry_waiter_t *w, const registry_reload_result_t *res) {
  reload_t *r = (reload_t *)w;
  r->res = *res;
  uv_async_send(&r->answer);
}

/* {"model", "reloaded", "reload", "coalesced", "seconds"[, "error"]}: which reload answered. */
static void reload_answer(reload_t *r) {
  const registry_reload_result_t *res = &r->res;
  int ok = res->status == REGISTRY_OK;
  api_buf_t b = {0};
  api_buf_puts(&b, "{");
  if (!ok) {
    api_buf_puts(&b, "\"error\":");
    api_buf_json_string(&b, res->error, strlen(res->error));
    api_buf_puts(&b, ",");
  }
  api_buf_puts(&b, "\"model\":");
  api_buf_json_string(&b, r->name, r->name_len);
  api_buf_printf(&b, ",\"reloaded\":%s,\"reload\":%llu,\"coalesced\":%s,\"seconds\":%.6f}",
                 ok ? "true" : "false", (unsigned long long)res->reload,
                 res->coalesced ? "true" : "false", res->seconds);
  api_body_t body = {0};
  if (api_buf_finish(&b, "application/json", &body) != 0)
    respond_error(r->io, r->req, METRICS_ROUTE_ADMIN, r->t0, 500, API_JSON, "out of memory");
  else
    respond_api_body(r->io, r->req, METRICS_ROUTE_ADMIN, r->t0, ok ? 200 : 422, &body);
}

/* The loop, woken by reload_done(). */
static void on_reload_answer(uv_async_t *h) {
  reload_t *r = h->data;
  if (r->req != NULL) reload_answer(r);
  reload_finish(r);
}

/* The loop, shutting down: the reload is not waited for (its thread may never return). */
static void reload_cancelled(registry_waiter_t *w) {
  reload_t *r = (reload_t *)w;
  if (r->req != NULL) {
    h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   H2O_STRLIT("5"));
    respond_error(r->io, r->req, METRICS_ROUTE_ADMIN, r->t0, 503, API_JSON,
                  "the server is shutting down: the reload was not waited for");
  }
  reload_finish(r);
}

/* 1 when NAME has no control byte (NUL, CR, LF, ... DEL): %00 must not name "income". */
static int name_is_clean(h2o_iovec_t name) {
  for (size_t i = 0; i < name.len; i++)
    if ((unsigned char)name.base[i] < 0x20 || name.base[i] == 0x7f) return 0;
  return name.len > 0;
}

static int status_of(registry_status_t rc) {
  return rc == REGISTRY_ENOTFOUND ? 404 : rc == REGISTRY_ESTOPPED ? 503 : 500;
}

void handle_admin_reload(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  if (admin_refused(io, req, t0)) return;
  if (!name_is_clean(m->name) || io->stopping) {
    respond_error(io, req, METRICS_ROUTE_ADMIN, t0, io->stopping ? 503 : 404, API_JSON,
                  io->stopping ? "the server is shutting down"
                               : "no such model: a model name has no control characters");
    return;
  }
  reload_t *r = calloc(1, sizeof *r + m->name.len + 1);
  if (r == NULL) {
    respond_error(io, req, METRICS_ROUTE_ADMIN, t0, 500, API_JSON, "out of memory");
    return;
  }
  memcpy(r->name, m->name.base, m->name.len);
  r->name_len = m->name.len;
  r->io = io;
  r->req = req;
  r->t0 = t0;
  r->waiter = (registry_waiter_t){.done = reload_done, .cancelled = reload_cancelled, .owner = io};
  uv_async_init(&io->loop, &r->answer, on_reload_answer);
  r->answer.data = r;
  r->slot = h2o_mem_alloc_shared(&req->pool, sizeof(void *), on_reload_dispose);
  *r->slot = r;
  char err[300];
  registry_status_t rc =
      registry_reload_async(io->s->reg, r->name, r->name_len, &r->waiter, err, sizeof err);
  if (rc != REGISTRY_OK) {
    respond_error(io, req, METRICS_ROUTE_ADMIN, t0, status_of(rc), API_JSON, err);
    reload_finish(r);
  }
}

/* ---- the rest of /admin ---- */

void handle_admin_config(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  (void)m;
  if (admin_refused(io, req, t0)) return;
  const config_t *c = io->s->cfg;
  char json[512];
  snprintf(
      json, sizeof json,
      "{\"io_threads\":%u,\"workers\":%u,\"max_batch_rows\":%u,\"max_delay_us\":%u,\"max_queue_"
      "rows\":%u,"
      "\"max_body\":%llu,\"deadline_ms\":%u,\"isa\":\"%s\",\"kernel\":\"%s\",\"version\":\"%s\"}",
      c->io_threads, c->workers, c->max_batch_rows, c->max_delay_us, c->max_queue_rows,
      (unsigned long long)c->max_body, c->deadline_ms, grove_engine_isa(), grove_engine_kernel(),
      GROVE_VERSION);
  respond_json(io, req, METRICS_ROUTE_ADMIN, t0, 200, json);
}

/* GET /admin: the dashboard is the UI's admin.html. */
void handle_admin_page(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  (void)m;
  metrics_request_done(io->s->metrics, METRICS_ROUTE_STATIC, 302, batcher_now() - t0);
  static h2o_generator_t generator = {NULL, NULL};
  req->res.status = 302;
  req->res.reason = "Found";
  req->res.content_length = 0;
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                 H2O_STRLIT("/admin.html"));
  if (h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-content-type-options"), -1) < 0)
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
  if (io->stopping) req->http1_is_persistent = 0;
  h2o_start_response(req, &generator);
  h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}
