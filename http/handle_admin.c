/* /admin: model reloads, the settings in force, the dashboard; and who may use them. */
#include "handlers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "request.h"
#include "respond.h"
#include "version.h"

static int peer_is_loopback(h2o_req_t *req) {
  struct sockaddr_storage ss;
  socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
  if (len == 0) return 0;
  if (ss.ss_family == AF_INET)
    return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
  }
  return ss.ss_family == AF_UNIX;
}

/* With a token: the token. Without one: only clients on this machine. */
static int authorized(const server_t *s, h2o_req_t *req) {
  const char *token = s->cfg->admin_token;
  if (token == NULL || token[0] == '\0') return peer_is_loopback(req);
  const char *v;
  size_t n;
  if (!request_header(req, H2O_TOKEN_AUTHORIZATION, &v, &n)) return 0;
  size_t tl = strlen(token);
  return n == tl + 7 && memcmp(v, "Bearer ", 7) == 0 && memcmp(v + 7, token, tl) == 0;
}

/* Answers 401/403 and returns 1 when REQ may not use /admin. */
static int admin_refused(io_thread_t *io, h2o_req_t *req, double t0) {
  if (authorized(io->s, req)) return 0;
  int has_token = io->s->cfg->admin_token != NULL && io->s->cfg->admin_token[0] != '\0';
  respond_error(io, req, METRICS_ROUTE_ADMIN, t0, has_token ? 401 : 403, API_JSON,
                has_token
                    ? "missing or wrong admin token (Authorization: Bearer ...)"
                    : "admin endpoints answer only loopback clients when no --admin-token is set");
  return 1;
}

/* Reloads run on libuv's thread pool: loading a big model must not stall the loop. */
typedef struct {
  uv_work_t work;
  io_thread_t *io;
  h2o_req_t *req; /* NULL once disposed of */
  void **slot;
  char name[256];
  registry_status_t rc;
  char err[512];
  double t0;
} reload_t;

static void on_reload_dispose(void *ptr) {
  reload_t *r = *(reload_t **)ptr;
  if (r != NULL) r->req = NULL, r->slot = NULL;
}

static void reload_work(uv_work_t *w) {
  reload_t *r = w->data;
  r->rc = registry_reload(r->io->s->reg, r->name, strlen(r->name), r->err, sizeof r->err);
}

static void reload_after(uv_work_t *w, int status) {
  reload_t *r = w->data;
  (void)status;
  if (r->rc == REGISTRY_OK)
    log_event("info", "model reloaded", "model=%s", r->name);
  else
    log_event("warn", "model reload failed; the previous version keeps serving",
              "model=%s error=\"%s\"", r->name, r->err);
  if (r->req != NULL) {
    if (r->slot != NULL) *r->slot = NULL;
    if (r->rc == REGISTRY_OK) {
      char json[400];
      snprintf(json, sizeof json, "{\"model\":\"%s\",\"reloaded\":true}", r->name);
      respond_json(r->io, r->req, METRICS_ROUTE_ADMIN, r->t0, 200, json);
    } else {
      respond_error(r->io, r->req, METRICS_ROUTE_ADMIN, r->t0,
                    r->rc == REGISTRY_ENOTFOUND ? 404 : 422, API_JSON, r->err);
    }
  }
  free(r);
}

void handle_admin_reload(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  if (admin_refused(io, req, t0)) return;
  h2o_iovec_t name = m->name;
  if (name.len >= sizeof((reload_t *)0)->name) {
    respond_error(io, req, METRICS_ROUTE_ADMIN, t0, 404, API_JSON, "model name too long");
    return;
  }
  reload_t *r = calloc(1, sizeof *r);
  if (r == NULL) {
    respond_error(io, req, METRICS_ROUTE_ADMIN, t0, 500, API_JSON, "out of memory");
    return;
  }
  memcpy(r->name, name.base, name.len);
  r->io = io;
  r->req = req;
  r->t0 = t0;
  r->work.data = r;
  r->slot = h2o_mem_alloc_shared(&req->pool, sizeof(void *), on_reload_dispose);
  *r->slot = r;
  if (uv_queue_work(&io->loop, &r->work, reload_work, reload_after) != 0) {
    *r->slot = NULL;
    free(r);
    respond_error(io, req, METRICS_ROUTE_ADMIN, t0, 500, API_JSON, "cannot start the reload");
  }
}

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
  h2o_send_redirect(req, 302, "Found", H2O_STRLIT("/admin.html"));
}
