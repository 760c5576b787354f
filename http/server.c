/*
 * The HTTP server: h2o (its own epoll loop, libuv nested in it) with one loop and one
 * listening socket (SO_REUSEPORT) per I/O thread, the route table in front of the UI's static
 * files, and the main thread's signal loop (SIGTERM/SIGINT drain, SIGHUP reload).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <h2o.h>
#include <h2o/http2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guard.h"
#include "handlers.h"
#include "log.h"
#include "routes.h"
#include "server_internal.h"
#include "ui_files.h"

#define TICK_MS 50

/* ---- I/O threads ---- */

/* Accepts what the listener has, a bounded number at a time so reads are not starved. */
static void on_accept(h2o_socket_t *listener, const char *err) {
  io_thread_t *io = listener->data;
  if (err != NULL) return;
  for (int i = 0; i < 32; i++) {
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock == NULL) return;
    h2o_accept(&io->accept_ctx, sock);
  }
}

static int connections_open(io_thread_t *io) {
  return !h2o_linklist_is_empty(&io->ctx.http1._conns) ||
         !h2o_linklist_is_empty(&io->ctx.http2._conns) ||
         h2o_timeout_is_linked(&io->ctx.http2._graceful_shutdown_timeout);
}

static void begin_shutdown(io_thread_t *io) {
  io->stopping = 1;
  io->stop_started = batcher_now();
  if (io->listener != NULL) {
    h2o_socket_close(io->listener);
    io->listener = NULL;
  }
  h2o_context_request_shutdown(&io->ctx);
  /* Admin reloads waiting on this loop are answered now (503): a reload may take long or
   * never return, and the new version would not outlive the process anyway. */
  registry_cancel_waiters(io->s->reg, io);
}

/* Workers handed back scored jobs, or the main thread asks this loop to stop. */
static void on_wake(uv_async_t *handle) {
  io_thread_t *io = handle->data;
  handle_predict_complete(io);
  if (atomic_load(&io->stop_requested) && !io->stopping) begin_shutdown(io);
}

/* After each pass of reads: decode and queue what arrived in it. */
static void on_flush(h2o_timeout_entry_t *entry) {
  handle_predict_flush((io_thread_t *)((char *)entry - offsetof(io_thread_t, flush_entry)));
}

static void on_tick(uv_timer_t *t) {
  io_thread_t *io = t->data;
  double now = batcher_now();
  if (atomic_load(&io->stop_requested) && !io->stopping) begin_shutdown(io);
  /* Past the grace period: give up on what is left (the batcher skips cancelled jobs), but
   * keep the loop until every job is back, since workers still post to it. */
  int overdue = io->stopping && now - io->stop_started > io->s->cfg->shutdown_grace_s;
  handle_predict_expire(io, now, overdue);
  if (io->stopping && handle_predict_idle(io)) {
    /* h2o 2.2 leaves idle HTTP/1 keep-alive connections open on shutdown; they wait in
     * the request-read timeout list, so expiring that list closes exactly them. */
    io->ctx.http1.req_timeout.timeout = 0;
    h2o_timeout_run(io->evloop, &io->ctx.http1.req_timeout, h2o_now(io->evloop));
    if (overdue || !connections_open(io)) io->quit = 1;
  }
}

static void close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* libuv's epoll fd has events: its handles run after this pass of h2o's loop. */
static void on_uv_ready(h2o_socket_t *sock, const char *err) {
  io_thread_t *io = sock->data;
  io->uv_ready = 1;
  (void)err;
}

/* Runs libuv's due handles (without waiting) and notes when its next timer is. */
static void run_uv(io_thread_t *io) {
  io->uv_ready = 0;
  uv_run(&io->loop, UV_RUN_NOWAIT);
  int t = uv_backend_timeout(&io->loop);
  io->uv_deadline = t < 0 ? UINT64_MAX : uv_now(&io->loop) + (uint64_t)t;
}

/*
 * h2o's loop, with libuv's run whenever its epoll fd is readable or a timer is due. After
 * libuv ran (it may have answered requests), h2o's next pass does not wait, so that the
 * write completions it leaves pending run at once.
 */
static void run_loops(io_thread_t *io) {
  run_uv(io);
  while (!io->quit) {
    int32_t wait = 0;
    uv_update_time(&io->loop);
    uint64_t now = uv_now(&io->loop);
    if (io->uv_ready || now >= io->uv_deadline)
      run_uv(io);
    else
      wait = io->uv_deadline - now > INT32_MAX ? INT32_MAX : (int32_t)(io->uv_deadline - now);
    if (!io->quit) h2o_evloop_run(io->evloop, wait);
  }
}

static void *io_main(void *arg) {
  io_thread_t *io = arg;
  run_loops(io);
  batcher_inline_free(&io->inline_scratch); /* no flush runs once the loop has stopped */
  /* No reload thread may wake this loop once it is gone (begin_shutdown() has already taken
   * back every waiter; a loop stopped another way has not). */
  registry_cancel_waiters(io->s->reg, io);
  /* Connections still open after the grace period belong to h2o, which has no way to
   * drop them: leave them to the process exit rather than free what h2o still uses. */
  if (connections_open(io)) return NULL;
  h2o_timeout_unlink(&io->flush_entry);
  h2o_timeout_dispose(io->evloop, &io->flush_timeout);
  h2o_socket_close(io->uv_watch);
  h2o_context_dispose(&io->ctx);
  h2o_evloop_destroy(io->evloop);
  uv_walk(&io->loop, close_handle, NULL);
  uv_run(&io->loop, UV_RUN_DEFAULT);
  uv_loop_close(&io->loop);
  return NULL;
}

/*
 * One listening socket per thread on the same address (SO_REUSEPORT): the kernel spreads
 * connections over the threads. PROBE binds without SO_REUSEPORT and closes at once:
 * SO_REUSEPORT alone would let a second grove join a port already in use and silently
 * share its traffic.
 */
static int listen_socket(const char *host, uint32_t port, int probe, char *err, size_t errlen) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE},
                  *res;
  char service[16];
  snprintf(service, sizeof service, "%u", port);
  int gai = getaddrinfo(host, service, &hints, &res);
  if (gai != 0) {
    snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (!probe && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
      bind(fd, res->ai_addr, res->ai_addrlen) != 0 || (!probe && listen(fd, SOMAXCONN) != 0)) {
    snprintf(err, errlen, "cannot listen on %s:%u: %s", host, port, strerror(errno));
    if (fd >= 0) close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (probe && fd >= 0) close(fd);
  return fd;
}

static int io_thread_init(server_t *s, io_thread_t *io, uint32_t index, char *err, size_t errlen) {
  io->s = s;
  io->index = index;
  h2o_linklist_init_anchor(&io->pending);
  h2o_linklist_init_anchor(&io->to_decode);
  pthread_mutex_init(&io->done_lock, NULL);
  io->listen_fd = listen_socket(s->cfg->host, s->cfg->port, 0, err, errlen);
  if (io->listen_fd < 0) return -1;
  uv_loop_init(&io->loop);
  /* libuv's epoll fd, duplicated so that h2o closing its socket leaves libuv's alone. */
  int uv_fd = fcntl(uv_backend_fd(&io->loop), F_DUPFD_CLOEXEC, 0);
  if (uv_fd < 0 || (io->evloop = h2o_evloop_create()) == NULL) {
    snprintf(err, errlen, "cannot create the event loop: %s", strerror(errno));
    if (uv_fd >= 0) close(uv_fd);
    return -1;
  }
  h2o_context_init(&io->ctx, io->evloop, &s->config);
  io->accept_ctx.ctx = &io->ctx;
  io->accept_ctx.hosts = s->config.hosts;
  io->accept_ctx.ssl_ctx = s->ssl_ctx;
  h2o_timeout_init(io->evloop, &io->flush_timeout, 0);
  io->flush_entry.cb = on_flush;
  io->uv_watch = h2o_evloop_socket_create(io->evloop, uv_fd, H2O_SOCKET_FLAG_DONT_READ);
  io->uv_watch->data = io;
  h2o_socket_read_start(io->uv_watch, on_uv_ready);
  uv_async_init(&io->loop, &io->wake, on_wake);
  io->wake.data = io;
  uv_timer_init(&io->loop, &io->tick);
  io->tick.data = io;
  uv_timer_start(&io->tick, on_tick, TICK_MS, TICK_MS);
  io->listener = h2o_evloop_socket_create(io->evloop, io->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
  io->listener->data = io;
  h2o_socket_read_start(io->listener, on_accept);
  return 0;
}

/* ---- signals (main thread) ---- */

/* How long shutdown waits for a reload under way once the I/O threads are done; past that
 * (or past the grace period) the reload is abandoned, its thread left to finish or not. */
#define RELOAD_WAIT_S 1.0

typedef struct {
  server_t *s;
  uv_signal_t term, intr, hup;
  double term_at; /* batcher_now() of the SIGTERM/SIGINT; 0 before */
} signals_t;

/* Every finished reload, whoever asked for it (a reload thread calls this). */
static void log_reload(const char *name, const registry_reload_result_t *res) {
  char q[1024];
  if (res->status == REGISTRY_OK)
    log_event("info", "model reloaded", "model=%s reload=%llu seconds=%.3f", name,
              (unsigned long long)res->reload, res->seconds);
  else
    log_event("warn", "model reload failed; the previous version keeps serving",
              "model=%s reload=%llu error=\"%s\"", name, (unsigned long long)res->reload,
              log_quote(res->error, q, sizeof q));
}

/* A SIGHUP's reload of every model is complete (a reload thread calls this). */
static void log_sweep(void *arg, const registry_sweep_result_t *res) {
  (void)arg;
  log_event(res->failed ? "warn" : "info", "reload finished", "failed=%zu models=%zu signals=%llu",
            res->failed, res->models, (unsigned long long)res->requests);
}

/*
 * SIGHUP asks the registry's reload threads for a reload of every model and returns at once:
 * the signal loop never loads a model, so a stuck load cannot hold SIGTERM up. SIGHUPs that
 * come while one such request still waits join it (one "reload finished" line counts them).
 */
static void on_hup(signals_t *sig) {
  int rc = registry_reload_all_async(sig->s->reg, log_sweep, NULL);
  if (rc == 1) log_event("info", "SIGHUP: reloading every model", NULL);
  if (rc < 0) log_event("warn", "SIGHUP: cannot reload the models (out of memory)", NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  signals_t *sig = h->data;
  server_t *s = sig->s;
  if (signum == SIGHUP) {
    if (sig->term_at == 0) on_hup(sig);
    return;
  }
  log_event("info", "shutting down: finishing requests in flight", "signal=%s grace_s=%u",
            signum == SIGTERM ? "TERM" : "INT", s->cfg->shutdown_grace_s);
  sig->term_at = batcher_now();
  atomic_store(&s->ready, 0);
  for (uint32_t i = 0; i < s->nthreads; i++) {
    atomic_store(&s->threads[i].stop_requested, 1);
    uv_async_send(&s->threads[i].wake);
  }
  /* Closing TERM and INT restores their default action: a second one stops at once. A SIGHUP
   * from now on is ignored rather than fatal. */
  uv_close((uv_handle_t *)&sig->term, NULL);
  uv_close((uv_handle_t *)&sig->intr, NULL);
  uv_close((uv_handle_t *)&sig->hup, NULL);
  signal(SIGHUP, SIG_IGN);
}

/* Once the I/O threads are done: give a reload under way a moment, never past the grace. */
static void stop_reloads(server_t *s, double term_at) {
  double left = term_at + s->cfg->shutdown_grace_s - batcher_now();
  double wait = left < RELOAD_WAIT_S ? left : RELOAD_WAIT_S;
  unsigned running = registry_stop_reloads(s->reg, wait > 0 ? wait : 0);
  if (running > 0)
    log_event("warn", "exiting with a model reload still running; it is abandoned",
              "reloads_running=%u", running);
}

/* Runs the main loop (signals) until SIGTERM/SIGINT, then waits for the I/O threads. */
static void run_until_stopped(server_t *s) {
  signals_t sig = {.s = s};
  uv_loop_t *main_loop = uv_default_loop();
  uv_signal_init(main_loop, &sig.term);
  uv_signal_init(main_loop, &sig.intr);
  uv_signal_init(main_loop, &sig.hup);
  sig.term.data = sig.intr.data = sig.hup.data = &sig;
  uv_signal_start(&sig.term, on_signal, SIGTERM);
  uv_signal_start(&sig.intr, on_signal, SIGINT);
  uv_signal_start(&sig.hup, on_signal, SIGHUP);
  registry_set_reload_log(s->reg, log_reload);

  for (uint32_t i = 0; i < s->nthreads; i++)
    pthread_create(&s->threads[i].tid, NULL, io_main, &s->threads[i]);
  atomic_store(&s->ready, 1);
  log_event("info", "ready", "url=%s://%s:%u", s->ssl_ctx ? "https" : "http", s->cfg->host,
            s->cfg->port);
  uv_run(main_loop, UV_RUN_DEFAULT);
  for (uint32_t i = 0; i < s->nthreads; i++) pthread_join(s->threads[i].tid, NULL);
  stop_reloads(s, sig.term_at);
  uv_loop_close(main_loop);
}

/* ---- set-up ---- */

static SSL_CTX *make_ssl_ctx(const config_t *cfg, char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
    snprintf(err, errlen, "TLS: cannot use %s / %s: %s", cfg->tls_cert, cfg->tls_key,
             ERR_reason_error_string(ERR_get_error()));
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
  return ctx;
}

/* h2o's configuration: the route table at "/", then the UI's files behind it. */
static void configure_h2o(server_t *s) {
  const config_t *cfg = s->cfg;
  h2o_config_init(&s->config);
  s->config.max_request_entity_size = guard_h2o_body_limit(cfg->max_body);
  s->config.filecache.capacity = 1024;
  h2o_hostconf_t *host =
      h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  guard_register_error_filter(host, cfg->max_body);
  h2o_pathconf_t *root = h2o_config_register_path(host, "/", 0);
  h2o_handler_t *routes = h2o_create_handler(root, sizeof *routes);
  routes->on_req = routes_dispatch;
  ui_files_register(root, cfg->ui_dir);
}

/* Everything up to the I/O threads' start; 0, or -1 with ERR filled. */
static int start(server_t *s, char *err, size_t errlen) {
  const config_t *cfg = s->cfg;
  if (cfg->tls_cert != NULL && (s->ssl_ctx = make_ssl_ctx(cfg, err, errlen)) == NULL) return -1;
  /* Spinning idle workers pay only when loops and workers each have a core. */
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int spin = cores > 0 && (long)cfg->io_threads + (long)cfg->workers <= cores;
  s->batcher = batcher_new(cfg->workers, cfg->max_batch_rows, cfg->max_delay_us,
                           cfg->max_queue_rows, spin, s->metrics);
  s->threads = calloc(cfg->io_threads, sizeof *s->threads);
  if (s->batcher == NULL || s->threads == NULL) {
    snprintf(err, errlen, "out of memory or threads");
    return -1;
  }
  if (listen_socket(cfg->host, cfg->port, 1, err, errlen) < 0) return -1;
  for (uint32_t i = 0; i < cfg->io_threads; i++) {
    if (io_thread_init(s, &s->threads[i], i, err, errlen) != 0) {
      for (uint32_t j = 0; j <= i; j++)
        if (s->threads[j].listen_fd > 0) close(s->threads[j].listen_fd);
      return -1;
    }
    s->nthreads++;
  }
  return 0;
}

int server_run(const config_t *cfg, registry_t *reg, metrics_t *metrics,
               const char *default_model) {
  signal(SIGPIPE, SIG_IGN);
  server_t *s = calloc(1, sizeof *s);
  if (s == NULL) return 1;
  s->cfg = cfg;
  s->reg = reg;
  s->metrics = metrics;
  s->default_model = default_model;
  /* A request that can never fit in the queue is too large (413), not a reason to retry. */
  s->limits.max_rows =
      cfg->max_request_rows < cfg->max_queue_rows ? cfg->max_request_rows : cfg->max_queue_rows;
  /* Explanations answer up to 4M values (32 MB of doubles, ~80 MB as JSON) per request:
   * their size grows with features x classes, not with the body that asks for them. */
  s->limits.max_explain_values = (size_t)1 << 22;
  s->max_body = cfg->max_body;
  atomic_init(&s->ready, 0);
  configure_h2o(s);
  char err[512], q[1024];
  int rc = start(s, err, sizeof err);
  if (rc == 0)
    run_until_stopped(s);
  else
    log_event("error", "cannot start", "error=\"%s\"", log_quote(err, q, sizeof q));
  if (rc == 0) log_event("info", "stopped", NULL);
  batcher_free(s->batcher);
  for (uint32_t i = 0; i < s->nthreads; i++) pthread_mutex_destroy(&s->threads[i].done_lock);
  free(s->threads);
  h2o_config_dispose(&s->config);
  if (s->ssl_ctx) SSL_CTX_free(s->ssl_ctx);
  free(s);
  return rc == 0 ? 0 : 1;
}
