/*
 * loadgen: a small HTTP/1.1 load generator for grove's benchmarks (bench/run.sh).
 *
 *   loadgen --port P [--host 127.0.0.1] [--path /predict] --body FILE [--content-type CT]
 *           [--rows R] [--connections N] [--duration S] [--warmup S] [--rate R] [--drain S]
 *           [--label TEXT]
 *
 * One thread, one libuv loop, N keep-alive connections, no pipelining (one request in flight
 * per connection). A server that answers "Connection: close" (gunicorn's sync workers) gets
 * a fresh connection for the next request, and the connect time counts in that request's
 * latency.
 *
 * Closed loop (no --rate): each connection sends its next request as soon as the previous
 * answer is complete. Latency = answer complete - request handed to the connection.
 *
 * Open loop (--rate R): request i is scheduled at start + i/R, whatever the server does (a
 * timerfd ticks at that period, or every 100 us at rates above 10000/s, and each tick sends
 * every request that has come due). A scheduled request goes to an idle connection, or
 * waits in a client-side queue until one is idle. Latency = answer complete - SCHEDULED
 * time, so time spent waiting because the server is slow is counted (no coordinated
 * omission). Requests scheduled inside the window that have no answer when the drain time
 * is over are reported as "incomplete" and enter the percentiles with the latency they had
 * reached at that point (a lower bound).
 *
 * Requests that complete during the first --warmup seconds are not counted. The window is
 * [warmup, duration]; req/s = counted answers / window.
 *
 * --body FILE: either one raw request body, or with --multi a sequence of records
 * [uint32 little-endian length][bytes], used round-robin (so the server does not see the
 * same row every time).
 *
 * Output: one JSON line on stdout: req/s and rows/s (--rows per request), latency
 * percentiles in ms, non-2xx answers, transport errors, incomplete requests, connections
 * made, send_lag (open loop, p50/p99: scheduled time -> request written; it includes waiting
 * for a free connection when all are busy with a slow server, and the client's own
 * lateness when it is short of CPU) and the client's CPU seconds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

/* Open loop: the timer never ticks more often than this (ns). */
#define TICK_MIN_NS 100000ull

typedef struct {
  char *data; /* full request bytes: head + body */
  size_t len;
} req_bytes_t;

typedef struct conn conn_t;

typedef enum { C_IDLE, C_CONNECTING, C_BUSY, C_CLOSING, C_WAIT_RETRY } conn_state_t;

struct conn {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_timer_t retry;
  int id;
  conn_state_t state;
  int connected;
  int tcp_open;              /* tcp handle initialized and not yet closed */
  int reconnect_after_close; /* closing to reconnect (vs. final close) */
  uint64_t t_start;          /* latency origin for the request in flight (ns) */
  int have_req;              /* a request is assigned to this connection */
  size_t req_index;
  /* response parsing */
  char *buf;
  size_t buf_len, buf_cap;
  int head_done;
  int status;
  int chunked;
  int conn_close;
  int until_eof;
  size_t body_start;
  size_t content_length;
  size_t chunk_pos; /* chunked: offset of the next chunk header */
};

static struct {
  const char *host;
  int port;
  const char *path;
  const char *content_type;
  const char *body_file;
  const char *label;
  int multi;
  double rows;
  int nconns;
  double duration;
  double warmup;
  double rate;
  double drain;

  req_bytes_t *reqs;
  size_t nreqs;
  size_t next_req;

  uv_loop_t *loop;
  struct sockaddr_in addr;
  conn_t *conns;

  uint64_t t0, t_warm, t_end, t_deadline;
  int stopping; /* past t_end: no new requests */

  /* open loop */
  int tfd;
  uv_poll_t tpoll;
  uint64_t period_ns;
  uint64_t scheduled; /* requests scheduled so far */
  uint64_t *queue;    /* ring of scheduled start times waiting for a connection */
  size_t q_head, q_len, q_cap;
  uint64_t max_queue;

  uv_timer_t stop_timer, deadline_timer;

  /* results */
  uint64_t *lat; /* ns */
  size_t nlat, lat_cap;
  uint64_t
      *lag; /* open loop: written - scheduled (ns): waiting for a connection + client lateness */
  size_t nlag, lag_cap;
  uint64_t ok, non2xx, errors, connects, incomplete, sent;
  uint64_t status_counts[6];
  int done;
} G;

static uint64_t now_ns(void) { return uv_hrtime(); }

static void die(const char *msg) {
  fprintf(stderr, "loadgen: %s\n", msg);
  exit(2);
}

static void lat_push(uint64_t v) {
  if (G.nlat == G.lat_cap) {
    G.lat_cap = G.lat_cap ? G.lat_cap * 2 : 1 << 16;
    G.lat = realloc(G.lat, G.lat_cap * sizeof *G.lat);
    if (G.lat == NULL) die("out of memory");
  }
  G.lat[G.nlat++] = v;
}

static void lag_push(uint64_t v) {
  if (G.nlag == G.lag_cap) {
    G.lag_cap = G.lag_cap ? G.lag_cap * 2 : 1 << 16;
    G.lag = realloc(G.lag, G.lag_cap * sizeof *G.lag);
    if (G.lag == NULL) die("out of memory");
  }
  G.lag[G.nlag++] = v;
}

static void q_push(uint64_t t) {
  if (G.q_len == G.q_cap) {
    size_t cap = G.q_cap ? G.q_cap * 2 : 1024;
    uint64_t *q = malloc(cap * sizeof *q);
    if (q == NULL) die("out of memory");
    for (size_t i = 0; i < G.q_len; i++) q[i] = G.queue[(G.q_head + i) % G.q_cap];
    free(G.queue);
    G.queue = q;
    G.q_cap = cap;
    G.q_head = 0;
  }
  G.queue[(G.q_head + G.q_len) % G.q_cap] = t;
  G.q_len++;
  if (G.q_len > G.max_queue) G.max_queue = G.q_len;
}

static uint64_t q_pop(void) {
  uint64_t t = G.queue[G.q_head];
  G.q_head = (G.q_head + 1) % G.q_cap;
  G.q_len--;
  return t;
}

static void conn_start_connect(conn_t *c);
static void conn_send(conn_t *c);
static void maybe_finish(void);

static void reset_parse(conn_t *c) {
  c->buf_len = 0;
  c->head_done = 0;
  c->status = 0;
  c->chunked = 0;
  c->conn_close = 0;
  c->until_eof = 0;
  c->body_start = 0;
  c->content_length = 0;
  c->chunk_pos = 0;
}

static void on_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  c->connected = 0;
  c->tcp_open = 0;
  if (c->reconnect_after_close && !G.done) {
    c->reconnect_after_close = 0;
    conn_start_connect(c);
  } else {
    c->state = C_IDLE;
    maybe_finish();
  }
}

static void conn_close(conn_t *c, int reconnect) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  c->state = C_CLOSING;
  c->reconnect_after_close = reconnect;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* Give connection C its next request, if any: open loop takes from the queue, closed loop
 * makes one now. Returns 1 if a request was assigned. */
static int assign_next(conn_t *c) {
  if (G.done) return 0;
  if (G.rate > 0) { /* the queue only holds requests scheduled inside the run */
    if (G.q_len == 0) return 0;
    c->t_start = q_pop();
  } else {
    if (G.stopping) return 0;
    c->t_start = now_ns();
  }
  c->have_req = 1;
  c->req_index = G.next_req;
  G.next_req = (G.next_req + 1) % G.nreqs;
  return 1;
}

/* C is free (connected or not): give it work. */
static void conn_dispatch(conn_t *c) {
  if (!c->have_req && !assign_next(c)) {
    if (c->state != C_CLOSING) c->state = C_IDLE;
    maybe_finish();
    return;
  }
  if (!c->connected) {
    if (c->state == C_CLOSING || c->state == C_CONNECTING) return;
    conn_start_connect(c);
  } else {
    conn_send(c);
  }
}

static void on_retry(uv_timer_t *t) {
  conn_t *c = t->data;
  c->state = C_IDLE;
  conn_dispatch(c);
}

/* A transport failure: count it, drop the request in flight (closed loop) or keep it
 * (open loop: it is retried, and its latency keeps growing), reconnect after 10 ms. */
static void on_retry_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  c->connected = 0;
  c->tcp_open = 0;
  if (G.done) {
    c->state = C_IDLE;
    maybe_finish();
    return;
  }
  c->state = C_WAIT_RETRY;
  uv_timer_start(&c->retry, on_retry, 10, 0);
}

static void conn_fail(conn_t *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return; /* already failing */
  G.errors++;
  if (G.rate <= 0) c->have_req = 0;
  reset_parse(c);
  c->state = C_CLOSING;
  uv_close((uv_handle_t *)&c->tcp, on_retry_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = h->data;
  if (c->buf_cap - c->buf_len < 65536) {
    c->buf_cap = c->buf_cap ? c->buf_cap * 2 : 131072;
    while (c->buf_cap - c->buf_len < 65536) c->buf_cap *= 2;
    c->buf = realloc(c->buf, c->buf_cap);
    if (c->buf == NULL) die("out of memory");
  }
  buf->base = c->buf + c->buf_len;
  buf->len = c->buf_cap - c->buf_len;
}

static int header_is(const char *line, size_t len, const char *name) {
  size_t n = strlen(name);
  return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen) {
  size_t n = strlen(name) + 1;
  while (n < len && (line[n] == ' ' || line[n] == '\t')) n++;
  *vlen = len - n;
  return line + n;
}

/* Parses the head if complete. Returns 1 when done, 0 when more is needed, -1 on error. */
static int parse_head(conn_t *c) {
  char *end = memmem(c->buf, c->buf_len, "\r\n\r\n", 4);
  if (end == NULL) return c->buf_len > (1 << 20) ? -1 : 0;
  if (c->buf_len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0) return -1;
  c->status = atoi(c->buf + 9);
  c->body_start = (size_t)(end - c->buf) + 4;
  int have_cl = 0;
  char *line = memchr(c->buf, '\n', c->buf_len) + 1;
  while (line < end) {
    char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
    size_t len = (size_t)(eol - line);
    size_t vlen;
    const char *v;
    if (header_is(line, len, "content-length")) {
      v = header_value(line, len, "content-length", &vlen);
      c->content_length = strtoull(v, NULL, 10);
      have_cl = 1;
    } else if (header_is(line, len, "transfer-encoding")) {
      v = header_value(line, len, "transfer-encoding", &vlen);
      if (memmem(v, vlen, "chunked", 7)) c->chunked = 1;
    } else if (header_is(line, len, "connection")) {
      v = header_value(line, len, "connection", &vlen);
      if (vlen >= 5 && strncasecmp(v, "close", 5) == 0) c->conn_close = 1;
    }
    line = eol + 2;
  }
  if (!c->chunked && !have_cl) {
    if (c->status == 204 || c->status == 304 || (c->status >= 100 && c->status < 200))
      c->content_length = 0;
    else
      c->until_eof = 1;
  }
  c->chunk_pos = c->body_start;
  c->head_done = 1;
  return 1;
}

/* Returns 1 when the whole response is in the buffer. */
static int body_complete(conn_t *c) {
  if (c->until_eof) return 0;
  if (!c->chunked) return c->buf_len - c->body_start >= c->content_length;
  for (;;) {
    char *eol = memmem(c->buf + c->chunk_pos, c->buf_len - c->chunk_pos, "\r\n", 2);
    if (eol == NULL) return 0;
    size_t sz = strtoull(c->buf + c->chunk_pos, NULL, 16);
    size_t data = (size_t)(eol - c->buf) + 2;
    if (sz == 0) {
      /* last chunk, then (no trailers expected) CRLF */
      return memmem(c->buf + data - 2, c->buf_len - (data - 2), "\r\n\r\n", 4) != NULL;
    }
    if (c->buf_len < data + sz + 2) return 0;
    c->chunk_pos = data + sz + 2;
  }
}

/* Throughput counts answers completed inside [warmup, duration]. Latency: closed loop, the
 * same answers; open loop, every request SCHEDULED inside the window, whenever it ends. */
static void record(conn_t *c, uint64_t t_done) {
  if (t_done >= G.t_warm && t_done <= G.t_end) {
    if (c->status >= 200 && c->status < 300)
      G.ok++;
    else
      G.non2xx++;
    int k = c->status / 100;
    if (k >= 0 && k < 6) G.status_counts[k]++;
    if (G.rate <= 0) lat_push(t_done - c->t_start);
  }
  if (G.rate > 0 && c->t_start >= G.t_warm) lat_push(t_done - c->t_start);
}

static void response_done(conn_t *c) {
  record(c, now_ns());
  c->have_req = 0;
  int close_it = c->conn_close || c->until_eof;
  reset_parse(c);
  if (close_it) {
    /* fresh connection for the next request (its connect time counts) */
    if (G.rate > 0 ? G.q_len > 0 : !G.stopping) {
      assign_next(c);
      conn_close(c, 1);
    } else {
      conn_close(c, 0);
    }
    return;
  }
  c->state = C_IDLE;
  conn_dispatch(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (nread == 0) return;
  if (nread < 0) {
    if (c->have_req && c->head_done && c->until_eof && nread == UV_EOF) {
      response_done(c);
      return;
    }
    if (!c->have_req) { /* idle keep-alive connection closed by the server */
      conn_close(c, 0);
      return;
    }
    conn_fail(c);
    return;
  }
  c->buf_len += (size_t)nread;
  if (!c->have_req) return; /* unsolicited bytes: ignore */
  if (!c->head_done) {
    int r = parse_head(c);
    if (r < 0) {
      conn_fail(c);
      return;
    }
    if (r == 0) return;
  }
  if (body_complete(c)) response_done(c);
}

static void on_written(uv_write_t *w, int status) {
  conn_t *c = w->data;
  if (status < 0 && status != UV_ECANCELED) conn_fail(c);
}

static void conn_send(conn_t *c) {
  c->state = C_BUSY;
  reset_parse(c);
  req_bytes_t *r = &G.reqs[c->req_index];
  uv_buf_t b = uv_buf_init(r->data, (unsigned)r->len);
  c->write_req.data = c;
  G.sent++;
  if (G.rate > 0 && c->t_start >= G.t_warm) lag_push(now_ns() - c->t_start);
  if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) conn_fail(c);
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (status < 0) {
    conn_fail(c);
    return;
  }
  G.connects++;
  c->connected = 1;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (c->have_req && !G.done) {
    conn_send(c);
  } else {
    c->state = C_IDLE;
    conn_dispatch(c);
  }
}

static void conn_start_connect(conn_t *c) {
  c->state = C_CONNECTING;
  uv_tcp_init(G.loop, &c->tcp);
  c->tcp_open = 1;
  c->tcp.data = c;
  c->connect_req.data = c;
  if (uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&G.addr, on_connect) != 0)
    conn_fail(c);
}

/* open loop: the timerfd fired; schedule every period that has elapsed */
static void on_tick(uv_poll_t *p, int status, int events) {
  uint64_t exp;
  if (read(G.tfd, &exp, sizeof exp) != sizeof exp) return;
  if (G.stopping) return;
  /* every request whose scheduled time has passed (the tick may be coarser than the period) */
  uint64_t now = now_ns();
  for (;;) {
    uint64_t t = G.t0 + (G.scheduled + 1) * G.period_ns;
    if (t > now || t > G.t_end) break;
    G.scheduled++;
    q_push(t);
  }
  for (int i = 0; i < G.nconns && G.q_len > 0; i++) {
    conn_t *c = &G.conns[i];
    if (c->state == C_IDLE && !c->have_req) conn_dispatch(c);
  }
}

static void close_everything(void) {
  if (G.done) return;
  G.done = 1;
  if (G.rate > 0 && !uv_is_closing((uv_handle_t *)&G.tpoll)) {
    uv_poll_stop(&G.tpoll);
    uv_close((uv_handle_t *)&G.tpoll, NULL);
  }
  uv_timer_stop(&G.stop_timer);
  uv_timer_stop(&G.deadline_timer);
  uint64_t t = now_ns();
  for (int i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    uv_timer_stop(&c->retry);
    uv_close((uv_handle_t *)&c->retry, NULL);
    if (G.rate > 0 && c->have_req && c->t_start >= G.t_warm) {
      G.incomplete++;
      lat_push(t - c->t_start);
    }
    if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp))
      uv_close((uv_handle_t *)&c->tcp, NULL);
  }
  /* open loop: scheduled but never sent */
  while (G.q_len > 0) {
    uint64_t s = q_pop();
    if (s >= G.t_warm) {
      G.incomplete++;
      lat_push(t - s);
    }
  }
  uv_close((uv_handle_t *)&G.stop_timer, NULL);
  uv_close((uv_handle_t *)&G.deadline_timer, NULL);
}

static void maybe_finish(void) {
  if (!G.stopping || G.done) return;
  if (G.q_len > 0) return;
  for (int i = 0; i < G.nconns; i++)
    if (G.conns[i].have_req) return;
  close_everything();
}

static void on_stop(uv_timer_t *t) {
  G.stopping = 1;
  if (G.rate <= 0) {
    /* closed loop: answers after t_end are not counted; do not wait for them long */
    close_everything();
    return;
  }
  maybe_finish();
}

static void on_deadline(uv_timer_t *t) { close_everything(); }

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_of(const uint64_t *v, size_t n, double p) {
  if (n == 0) return 0;
  size_t i = (size_t)(p * (double)n);
  if (i >= n) i = n - 1;
  return (double)v[i] / 1e6;
}

static double pct(double p) { return pct_of(G.lat, G.nlat, p); }

static void load_bodies(void) {
  FILE *f = fopen(G.body_file, "rb");
  if (f == NULL) die("cannot open --body file");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *all = malloc((size_t)n + 1);
  if (all == NULL || fread(all, 1, (size_t)n, f) != (size_t)n) die("cannot read --body file");
  fclose(f);
  size_t cap = 16;
  G.reqs = calloc(cap, sizeof *G.reqs);
  size_t off = 0;
  while (off < (size_t)n) {
    size_t blen;
    const unsigned char *b;
    if (G.multi) {
      if (off + 4 > (size_t)n) die("truncated --multi body file");
      blen = (size_t)all[off] | (size_t)all[off + 1] << 8 | (size_t)all[off + 2] << 16 |
             (size_t)all[off + 3] << 24;
      off += 4;
      if (off + blen > (size_t)n) die("truncated --multi body file");
      b = all + off;
      off += blen;
    } else {
      blen = (size_t)n;
      b = all;
      off = (size_t)n;
    }
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\nAccept: %s\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      G.path, G.host, G.port, G.content_type, G.content_type, blen);
    if (G.nreqs == cap) {
      cap *= 2;
      G.reqs = realloc(G.reqs, cap * sizeof *G.reqs);
    }
    req_bytes_t *r = &G.reqs[G.nreqs++];
    r->len = (size_t)hl + blen;
    r->data = malloc(r->len);
    memcpy(r->data, head, (size_t)hl);
    memcpy(r->data + hl, b, blen);
  }
  if (G.nreqs == 0) die("no request bodies");
  free(all);
}

static void usage(void) {
  fprintf(
      stderr,
      "usage: loadgen --port P --body FILE [--multi] [--host 127.0.0.1] [--path /predict]\n"
      "               [--content-type application/json] [--rows R] [--connections N]\n"
      "               [--duration S] [--warmup S] [--rate REQ_PER_S] [--drain S] [--label TEXT]\n"
      "       (-c N, -d S, -w S, -R RATE, -r ROWS are short for the same)\n");
  exit(2);
}

int main(int argc, char **argv) {
  G.host = "127.0.0.1";
  G.path = "/predict";
  G.content_type = "application/json";
  G.label = "";
  G.rows = 1;
  G.nconns = 64;
  G.duration = 10;
  G.warmup = 1;
  G.drain = 2;
  static struct option opts[] = {{"host", 1, 0, 'h'},     {"port", 1, 0, 'p'},
                                 {"path", 1, 0, 'P'},     {"body", 1, 0, 'b'},
                                 {"multi", 0, 0, 'm'},    {"content-type", 1, 0, 't'},
                                 {"rows", 1, 0, 'r'},     {"connections", 1, 0, 'c'},
                                 {"duration", 1, 0, 'd'}, {"warmup", 1, 0, 'w'},
                                 {"rate", 1, 0, 'R'},     {"drain", 1, 0, 'D'},
                                 {"label", 1, 0, 'l'},    {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "c:d:w:R:r:", opts, NULL)) != -1) {
    switch (o) {
      case 'h':
        G.host = optarg;
        break;
      case 'p':
        G.port = atoi(optarg);
        break;
      case 'P':
        G.path = optarg;
        break;
      case 'b':
        G.body_file = optarg;
        break;
      case 'm':
        G.multi = 1;
        break;
      case 't':
        G.content_type = optarg;
        break;
      case 'r':
        G.rows = atof(optarg);
        break;
      case 'c':
        G.nconns = atoi(optarg);
        break;
      case 'd':
        G.duration = atof(optarg);
        break;
      case 'w':
        G.warmup = atof(optarg);
        break;
      case 'R':
        G.rate = atof(optarg);
        break;
      case 'D':
        G.drain = atof(optarg);
        break;
      case 'l':
        G.label = optarg;
        break;
      default:
        usage();
    }
  }
  if (G.port <= 0 || G.body_file == NULL || G.nconns <= 0 || G.duration <= G.warmup) usage();
  load_bodies();
  signal(SIGPIPE, SIG_IGN);
  if (uv_ip4_addr(G.host, G.port, &G.addr) != 0) die("bad --host");

  G.loop = uv_default_loop();
  G.conns = calloc((size_t)G.nconns, sizeof *G.conns);
  uv_timer_init(G.loop, &G.stop_timer);
  uv_timer_init(G.loop, &G.deadline_timer);

  G.t0 = now_ns();
  G.t_warm = G.t0 + (uint64_t)(G.warmup * 1e9);
  G.t_end = G.t0 + (uint64_t)(G.duration * 1e9);
  uv_timer_start(&G.stop_timer, on_stop, (uint64_t)(G.duration * 1000), 0);
  uv_timer_start(&G.deadline_timer, on_deadline, (uint64_t)((G.duration + G.drain) * 1000), 0);

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);

  for (int i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    c->id = i;
    uv_timer_init(G.loop, &c->retry);
    c->retry.data = c;
    c->tcp.data = c;
  }
  if (G.rate > 0) {
    G.period_ns = (uint64_t)(1e9 / G.rate);
    if (G.period_ns == 0) G.period_ns = 1;
    G.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (G.tfd < 0) die("timerfd_create failed");
    /* uv_hrtime() is CLOCK_MONOTONIC too: the first tick is at t0 + period */
    struct itimerspec its;
    uint64_t first = G.t0 + G.period_ns;
    its.it_value.tv_sec = (time_t)(first / 1000000000ull);
    its.it_value.tv_nsec = (long)(first % 1000000000ull);
    /* at high rates, wake up every TICK_MIN_NS and send what has come due: the scheduled
     * times stay exact (latency counts from them), the client saves wakeups */
    uint64_t tick = G.period_ns < TICK_MIN_NS ? TICK_MIN_NS : G.period_ns;
    its.it_interval.tv_sec = (time_t)(tick / 1000000000ull);
    its.it_interval.tv_nsec = (long)(tick % 1000000000ull);
    if (timerfd_settime(G.tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) die("timerfd_settime failed");
    uv_poll_init(G.loop, &G.tpoll, G.tfd);
    uv_poll_start(&G.tpoll, UV_READABLE, on_tick);
    /* open connections up front, so the first requests do not pay for connect */
    for (int i = 0; i < G.nconns; i++) conn_start_connect(&G.conns[i]);
  } else {
    for (int i = 0; i < G.nconns; i++) conn_dispatch(&G.conns[i]);
  }

  uv_run(G.loop, UV_RUN_DEFAULT);
  getrusage(RUSAGE_SELF, &ru1);

  qsort(G.lat, G.nlat, sizeof *G.lat, cmp_u64);
  qsort(G.lag, G.nlag, sizeof *G.lag, cmp_u64);
  double window = G.duration - G.warmup;
  double done = (double)(G.ok + G.non2xx);
  double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
               (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
               ((double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) +
                (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec)) /
                   1e6;
  double mean = 0;
  for (size_t i = 0; i < G.nlat; i++) mean += (double)G.lat[i];
  mean = G.nlat ? mean / (double)G.nlat / 1e6 : 0;
  printf(
      "{\"label\":\"%s\",\"mode\":\"%s\",\"connections\":%d,\"rate\":%.1f,\"rows_per_req\":%g,"
      "\"window_s\":%.3f,\"requests\":%.0f,\"ok\":%llu,\"non2xx\":%llu,\"errors\":%llu,"
      "\"incomplete\":%llu,"
      "\"connects\":%llu,\"req_per_s\":%.1f,\"ok_req_per_s\":%.1f,\"rows_per_s\":%.1f,"
      "\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_"
      "ms\":%.3f,"
      "\"max_client_queue\":%llu,\"send_lag_p50_ms\":%.3f,\"send_lag_p99_ms\":%.3f,\"loadgen_cpu_"
      "s\":%.2f}\n",
      G.label, G.rate > 0 ? "open" : "closed", G.nconns, G.rate, G.rows, window, done,
      (unsigned long long)G.ok, (unsigned long long)G.non2xx, (unsigned long long)G.errors,
      (unsigned long long)G.incomplete, (unsigned long long)G.connects, done / window,
      (double)G.ok / window, (double)G.ok * G.rows / window, mean, pct(0.50), pct(0.90), pct(0.99),
      pct(0.999), G.nlat ? (double)G.lat[G.nlat - 1] / 1e6 : 0.0, (unsigned long long)G.max_queue,
      pct_of(G.lag, G.nlag, 0.50), pct_of(G.lag, G.nlag, 0.99), cpu);
  return 0;
}
