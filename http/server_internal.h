/*
 * Internal to http/: the server and its I/O threads as the handlers, the router and the
 * response helpers see them. server.c owns their life; the others only read the fields
 * (and handle_predict.c keeps each thread's in-flight list).
 */
#ifndef GROVE_HTTP_SERVER_INTERNAL_H
#define GROVE_HTTP_SERVER_INTERNAL_H

#include <h2o.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "api.h"
#include "batcher.h"
#include "config.h"
#include "metrics.h"
#include "registry.h"

typedef struct server server_t;
typedef struct io_thread io_thread_t;
typedef struct pending pending_t; /* a prediction in flight (handle_predict.c) */

/* Connections whose clients keep abandoning predictions (HTTP/2 RST_STREAM floods): a few
 * per I/O thread, by connection, counted over a window (handle_predict.c). */
#define SERVER_RESET_SLOTS 16
/* Predictions a flush collects before it scores them together (handle_predict.c). */
#define SERVER_FLUSH_BATCH 64
typedef struct {
  const void *conn; /* h2o_conn_t of the connection (only compared, never followed) */
  uint32_t resets;
  double since;
} reset_count_t;

/*
 * One I/O thread: h2o's own event loop (its sockets) with a libuv loop nested in it (the
 * thread's wake-ups, timer and thread-pool work), its own listening socket and h2o context.
 */
struct io_thread {
  server_t *s;
  uint32_t index;
  pthread_t tid;
  h2o_evloop_t *evloop;   /* connections and the listener */
  uv_loop_t loop;         /* wake, tick, decoding on the thread pool, reload answers */
  h2o_socket_t *uv_watch; /* libuv's epoll fd (a dup) watched by evloop */
  int uv_ready;           /* uv_watch was readable: libuv has events to run */
  uint64_t uv_deadline;   /* uv_now() when libuv's next timer is due (UINT64_MAX: none) */
  int quit;               /* leave the loop (shutdown is complete) */
  h2o_context_t ctx;
  h2o_accept_ctx_t accept_ctx;
  h2o_socket_t *listener;
  int listen_fd;
  uv_async_t wake; /* completed jobs and stop requests */
  uv_timer_t tick; /* deadlines and shutdown progress */
  pthread_mutex_t done_lock;
  pending_t *done_head;     /* scored jobs handed back by workers (guarded by done_lock) */
  h2o_linklist_t pending;   /* this loop's predictions in flight (loop thread only) */
  h2o_linklist_t to_decode; /* received this pass, decoded after h2o has read every frame */
  /* A zero timeout: it runs in the same evloop pass, after every read of it, decoding and
   * submitting to_decode; answers written there restart their connection's reading in that
   * same pass, so its epoll interest never changes between requests. */
  h2o_timeout_t flush_timeout;
  h2o_timeout_entry_t flush_entry;
  /* While a flush decodes: the predictions it has submitted so far, scored together at its
   * end when the workers are idle (batcher_score_inline_jobs), with the thread's scratch. */
  int collecting;
  size_t collected;
  pending_t *collect[SERVER_FLUSH_BATCH];
  batcher_inline_t inline_scratch;
  reset_count_t resets[SERVER_RESET_SLOTS];
  atomic_int stop_requested;
  int stopping; /* draining: listener closed, answers close their connection */
  double stop_started;
};

struct server {
  const config_t *cfg;
  registry_t *reg;
  metrics_t *metrics;
  batcher_t *batcher;
  const char *default_model; /* behind POST /predict */
  h2o_globalconf_t config;
  SSL_CTX *ssl_ctx;
  io_thread_t *threads;
  uint32_t nthreads;
  atomic_int ready; /* /v2/health/ready: false before start and once draining */
  api_limits_t limits;
  size_t max_body; /* bodies beyond are refused with a JSON 413 (h2o's own limit is higher) */
};

/* The I/O thread whose loop serves REQ. */
static inline io_thread_t *server_io_of(h2o_req_t *req) {
  return (io_thread_t *)((char *)req->conn->ctx - offsetof(io_thread_t, ctx));
}

#endif /* GROVE_HTTP_SERVER_INTERNAL_H */
