/*
 * Daemon metrics. Every update is one or two relaxed atomic adds on counters that no
 * other thread writes in the same cache line as often; metrics_render takes a snapshot
 * bucket by bucket and prints the Prometheus text exposition format 0.0.4.
 *
 * Per-model counters live in slots that are made on a model's first request and never
 * freed nor moved before metrics_free, so the request path finds its slot without a lock:
 * a name lookup in an append-only hash chain, once per request.
 */
#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "buf.h"
#include "version.h" /* generated: GROVE_VERSION */

#define CACHE_LINE 64

/* ---- bucket layouts ---- */

/* Seconds: from 50 us to 10 s. The text is what the le label shows. */
static const double time_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                     0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                     0.5,     1,      2.5,     5,      10};
static const char *const time_labels[] = {
    "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",    "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10"};
#define TIME_BOUNDS (sizeof time_bounds / sizeof time_bounds[0])

/* Rows per batch: powers of two 1..65536; requests per batch: 1..1024. */
#define ROWS_BOUNDS 17
#define REQS_BOUNDS 11
#define MAX_BOUNDS  17 /* the largest of the three */

_Static_assert(TIME_BOUNDS == MAX_BOUNDS, "time buckets");
_Static_assert(sizeof time_labels / sizeof time_labels[0] == TIME_BOUNDS, "time bucket labels");

/* Sums are kept as integers so that concurrent adds are exact: nanoseconds for the
 * time histograms, units for the count histograms. */
#define NS_PER_S 1e9

typedef struct {
  _Alignas(CACHE_LINE) _Atomic uint64_t
      buckets[MAX_BOUNDS + 1]; /* per bucket, last is +Inf; not cumulative */
  _Atomic uint64_t sum;        /* in the histogram's integer unit */
} hist_t;

/* Status codes with a series of their own; the rest count as code="other". */
static const int status_codes[] = {200, 400, 404, 405, 408, 413, 415, 422, 429, 500, 503, 504};
#define NUM_CODES (sizeof status_codes / sizeof status_codes[0])

static const char *const route_names[METRICS_ROUTE_COUNT] = {
    [METRICS_ROUTE_PREDICT] = "predict", [METRICS_ROUTE_INFER] = "infer",
    [METRICS_ROUTE_MODELS] = "models",   [METRICS_ROUTE_HEALTH] = "health",
    [METRICS_ROUTE_METRICS] = "metrics", [METRICS_ROUTE_ADMIN] = "admin",
    [METRICS_ROUTE_STATIC] = "static",   [METRICS_ROUTE_OTHER] = "other"};

enum { REJECT_QUEUE_FULL, REJECT_DEADLINE, REJECT_OTHER, NUM_REJECT };
static const char *const reject_names[NUM_REJECT] = {"queue_full", "deadline", "other"};

/* The prediction routes, the only ones counted by model: predict is 0, infer 1. */
#define PREDICTION_ROUTES 2
_Static_assert(METRICS_ROUTE_PREDICT == 0 && METRICS_ROUTE_INFER == 1, "prediction routes first");

/* What the workers count per batch: once per model, once more for batches of no known model. */
typedef struct {
  hist_t queue_wait;
  hist_t engine_seconds;
  hist_t batch_rows;
  hist_t batch_requests;
  hist_t explain_seconds; /* engine time of explanations (contributions, leaves) */
  _Alignas(CACHE_LINE) _Atomic uint64_t rows_predicted;
  _Atomic uint64_t batches;
  _Atomic uint64_t explain_requests, explain_rows;
} batch_counts_t;

struct metrics_slot {
  hist_t request_seconds[PREDICTION_ROUTES];
  _Alignas(CACHE_LINE) _Atomic uint64_t requests[PREDICTION_ROUTES][NUM_CODES + 1];
  batch_counts_t batch;
  _Alignas(CACHE_LINE) _Atomic(metrics_slot_t *) next; /* the next slot in its name bucket */
  uint32_t id;                                         /* index in creation order */
  uint32_t hash;                                       /* of the name */
  char *name;
};

/* Slots live in chunks of 1, 2, 4, ... slots that never move: slot ID is in chunk
 * log2(ID + 1). Route values carry ID (metrics_route_of_model), which bounds it. */
#define SLOT_CHUNKS  28
#define MAX_SLOTS    ((1u << SLOT_CHUNKS) - 1)
#define NAME_BUCKETS 256
_Static_assert(MAX_SLOTS <=
                   (METRICS_ROUTE_WITH_MODEL_MAX - PREDICTION_ROUTES) / METRICS_ROUTE_COUNT,
               "the largest slot id fits in a route value");

struct metrics {
  /* Gauges moved on every request: each on its own line. */
  _Alignas(CACHE_LINE) _Atomic int64_t inflight;
  _Alignas(CACHE_LINE) _Atomic int64_t queued_rows;
  /* Requests by route without a model: other routes, and predictions refused before their
   * model was known (404, 415, ...). */
  _Alignas(
      CACHE_LINE) _Atomic uint64_t requests[METRICS_ROUTE_COUNT][NUM_CODES + 1]; /* last: "other" */
  _Alignas(CACHE_LINE) _Atomic uint64_t rejected[NUM_REJECT];
  _Atomic uint64_t resets; /* predictions abandoned by their client */
  hist_t request_seconds[METRICS_ROUTE_COUNT];
  batch_counts_t batch; /* batches no slot claimed */
  /* Per-model slots: written under LOCK, read without it. */
  _Alignas(CACHE_LINE) _Atomic uint32_t nslots;
  metrics_slot_t *chunks[SLOT_CHUNKS];
  _Atomic(metrics_slot_t *) by_name[NAME_BUCKETS];
  pthread_mutex_t lock;
  double start_time; /* process_start_time_seconds, NaN when /proc cannot tell */
};

static double process_start_time(void);

metrics_t *metrics_new(void) {
  size_t size = (sizeof(metrics_t) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
  metrics_t *m = aligned_alloc(CACHE_LINE, size);
  if (m == NULL) return NULL;
  memset(
      m, 0,
      size); /* all-zero is a valid initial state for these atomics on every target we build for */
  pthread_mutex_init(&m->lock, NULL);
  m->start_time = process_start_time();
  return m;
}

static metrics_slot_t *slot_at(metrics_t *m, uint32_t id) {
  unsigned k = 31 - (unsigned)__builtin_clz(id + 1);
  return &m->chunks[k][id + 1 - (1u << k)];
}

void metrics_free(metrics_t *m) {
  if (m == NULL) return;
  uint32_t n = atomic_load_explicit(&m->nslots, memory_order_acquire);
  for (uint32_t id = 0; id < n; id++) free(slot_at(m, id)->name);
  for (unsigned k = 0; k < SLOT_CHUNKS; k++) free(m->chunks[k]);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

/* ---- per-model slots ---- */

static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static metrics_slot_t *slot_by_name(metrics_t *m, uint32_t h, const char *name) {
  for (metrics_slot_t *s =
           atomic_load_explicit(&m->by_name[h % NAME_BUCKETS], memory_order_acquire);
       s != NULL; s = atomic_load_explicit(&s->next, memory_order_acquire))
    if (s->hash == h && strcmp(s->name, name) == 0) return s;
  return NULL;
}

/* A new slot for NAME (LOCK held), or NULL when out of memory or slots. nslots is published
 * before the name bucket, so whoever finds the slot by name also sees it counted. */
static metrics_slot_t *slot_new(metrics_t *m, uint32_t h, const char *name) {
  uint32_t id = atomic_load_explicit(&m->nslots, memory_order_relaxed);
  if (id >= MAX_SLOTS) return NULL;
  unsigned k = 31 - (unsigned)__builtin_clz(id + 1);
  if (m->chunks[k] == NULL) {
    size_t size = ((size_t)1 << k) * sizeof(metrics_slot_t);
    if ((m->chunks[k] = aligned_alloc(CACHE_LINE, size)) == NULL) return NULL;
    memset(m->chunks[k], 0, size);
  }
  metrics_slot_t *s = slot_at(m, id);
  if ((s->name = strdup(name)) == NULL) return NULL;
  s->hash = h;
  s->id = id;
  atomic_store_explicit(&m->nslots, id + 1, memory_order_release);
  _Atomic(metrics_slot_t *) *bucket = &m->by_name[h % NAME_BUCKETS];
  atomic_store_explicit(&s->next, atomic_load_explicit(bucket, memory_order_relaxed),
                        memory_order_relaxed);
  atomic_store_explicit(bucket, s, memory_order_release);
  return s;
}

metrics_slot_t *metrics_model_slot(metrics_t *m, const char *name) {
  uint32_t h = name_hash(name);
  metrics_slot_t *s = slot_by_name(m, h, name);
  if (s != NULL) return s;
  pthread_mutex_lock(&m->lock);
  if ((s = slot_by_name(m, h, name)) == NULL) s = slot_new(m, h, name);
  pthread_mutex_unlock(&m->lock);
  return s;
}

metrics_route_t metrics_route_of_model(metrics_route_t route, const metrics_slot_t *slot) {
  if (slot == NULL || (route != METRICS_ROUTE_PREDICT && route != METRICS_ROUTE_INFER))
    return route;
  return (metrics_route_t)(METRICS_ROUTE_COUNT * (slot->id + 1u) + (unsigned)route);
}

/* Splits ROUTE into its route (in *ROUTE) and its model's slot (NULL: none). A value that
 * is neither a route nor a prediction route of an existing slot counts as route="other". */
static metrics_slot_t *route_slot(metrics_t *m, metrics_route_t *route) {
  unsigned r = (unsigned)*route;
  if (r < METRICS_ROUTE_COUNT) return NULL;
  unsigned base = r % METRICS_ROUTE_COUNT, id = r / METRICS_ROUTE_COUNT - 1;
  if (base < PREDICTION_ROUTES && id < atomic_load_explicit(&m->nslots, memory_order_acquire)) {
    *route = (metrics_route_t)base;
    return slot_at(m, id);
  }
  *route = METRICS_ROUTE_OTHER;
  return NULL;
}

/* ---- updates ---- */

/* First bucket whose upper bound is >= V (Prometheus buckets are le); NBOUNDS is +Inf. */
static size_t time_bucket(double v) {
  size_t lo = 0, hi = TIME_BOUNDS;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v <= time_bounds[mid])
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* Bucket of a count among bounds 1, 2, 4, ..., 2^(NBOUNDS-1): ceil(log2(v)), or +Inf. */
static size_t pow2_bucket(uint64_t v, size_t nbounds) {
  if (v <= 1) return 0;
  size_t b = (size_t)(64 - __builtin_clzll(v - 1));
  return b < nbounds ? b : nbounds;
}

/* Negative, NaN and absurd durations (a clock step) are clamped rather than trusted. */
static uint64_t seconds_to_ns(double s) {
  if (!(s > 0)) return 0;
  if (s > 1e9) s = 1e9;
  return (uint64_t)(s * NS_PER_S + 0.5);
}

static void hist_time_add(hist_t *h, double seconds) {
  if (!(seconds > 0)) seconds = 0;
  atomic_fetch_add_explicit(&h->buckets[time_bucket(seconds)], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum, seconds_to_ns(seconds), memory_order_relaxed);
}

static void hist_count_add(hist_t *h, uint64_t v, size_t nbounds) {
  atomic_fetch_add_explicit(&h->buckets[pow2_bucket(v, nbounds)], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

static size_t status_index(int status) {
  for (size_t i = 0; i < NUM_CODES; i++)
    if (status_codes[i] == status) return i;
  return NUM_CODES;
}

void metrics_request_done(metrics_t *m, metrics_route_t route, int status, double seconds) {
  metrics_slot_t *s = route_slot(m, &route);
  _Atomic uint64_t *codes = s != NULL ? s->requests[route] : m->requests[route];
  atomic_fetch_add_explicit(&codes[status_index(status)], 1, memory_order_relaxed);
  hist_time_add(s != NULL ? &s->request_seconds[route] : &m->request_seconds[route], seconds);
}

void metrics_batch_done(metrics_t *m, metrics_slot_t *slot, size_t rows, size_t requests,
                        double engine_seconds) {
  batch_counts_t *c = slot != NULL ? &slot->batch : &m->batch;
  atomic_fetch_add_explicit(&c->rows_predicted, rows, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->batches, 1, memory_order_relaxed);
  hist_count_add(&c->batch_rows, rows, ROWS_BOUNDS);
  hist_count_add(&c->batch_requests, requests, REQS_BOUNDS);
  hist_time_add(&c->engine_seconds, engine_seconds);
}

void metrics_explain_done(metrics_t *m, metrics_slot_t *slot, size_t rows, size_t requests,
                          double engine_seconds) {
  batch_counts_t *c = slot != NULL ? &slot->batch : &m->batch;
  atomic_fetch_add_explicit(&c->explain_requests, requests, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->explain_rows, rows, memory_order_relaxed);
  hist_time_add(&c->explain_seconds, engine_seconds);
}

void metrics_queue_wait(metrics_t *m, metrics_slot_t *slot, double seconds) {
  hist_time_add(slot != NULL ? &slot->batch.queue_wait : &m->batch.queue_wait, seconds);
}

void metrics_request_reset(metrics_t *m) {
  atomic_fetch_add_explicit(&m->resets, 1, memory_order_relaxed);
}

void metrics_inflight_add(metrics_t *m, int64_t delta) {
  atomic_fetch_add_explicit(&m->inflight, delta, memory_order_relaxed);
}

void metrics_queued_rows_add(metrics_t *m, int64_t delta) {
  atomic_fetch_add_explicit(&m->queued_rows, delta, memory_order_relaxed);
}

void metrics_rejected(metrics_t *m, const char *reason) {
  size_t i = REJECT_OTHER;
  if (reason != NULL && strcmp(reason, "queue_full") == 0) i = REJECT_QUEUE_FULL;
  if (reason != NULL && strcmp(reason, "deadline") == 0) i = REJECT_DEADLINE;
  atomic_fetch_add_explicit(&m->rejected[i], 1, memory_order_relaxed);
}

/* ---- snapshots ---- */

typedef struct {
  uint64_t buckets[MAX_BOUNDS + 1]; /* per bucket */
  uint64_t count;                   /* sum of the buckets read, so +Inf == _count always */
  uint64_t sum;
} hist_snap_t;

/* Adds H's counts to S (a NULL H adds nothing: a model not counted yet). */
static void hist_snapshot_add(hist_t *h, size_t nbounds, hist_snap_t *s) {
  if (h == NULL) return;
  for (size_t i = 0; i <= nbounds; i++) {
    uint64_t v = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    s->buckets[i] += v;
    s->count += v;
  }
  s->sum += atomic_load_explicit(&h->sum, memory_order_relaxed);
}

static void hist_snapshot(hist_t *h, size_t nbounds, hist_snap_t *s) {
  memset(s, 0, sizeof *s);
  hist_snapshot_add(h, nbounds, s);
}

/* Prometheus' histogram_quantile on a time histogram snapshot. */
static double snap_quantile(const hist_snap_t *s, double q) {
  if (s->count == 0 || isnan(q)) return NAN;
  if (q < 0) return -INFINITY;
  if (q > 1) return INFINITY;
  double rank = q * (double)s->count;
  uint64_t below = 0;
  size_t b = 0;
  for (; b < TIME_BOUNDS; b++) {
    if ((double)(below + s->buckets[b]) >= rank) break;
    below += s->buckets[b];
  }
  if (b == TIME_BOUNDS) return time_bounds[TIME_BOUNDS - 1]; /* in +Inf: the highest finite bound */
  double lower = b == 0 ? 0 : time_bounds[b - 1], upper = time_bounds[b];
  if (s->buckets[b] == 0) return upper; /* rank 0 with leading empty buckets */
  return lower + (upper - lower) * (rank - (double)below) / (double)s->buckets[b];
}

double metrics_request_quantile(metrics_t *m, metrics_route_t route, double q) {
  hist_snap_t s;
  metrics_slot_t *slot = route_slot(m, &route);
  if (slot != NULL) {
    hist_snapshot(&slot->request_seconds[route], TIME_BOUNDS, &s);
    return snap_quantile(&s, q);
  }
  hist_snapshot(&m->request_seconds[route], TIME_BOUNDS, &s);
  uint32_t n = atomic_load_explicit(&m->nslots, memory_order_acquire);
  for (uint32_t id = 0; route < PREDICTION_ROUTES && id < n; id++)
    hist_snapshot_add(&slot_at(m, id)->request_seconds[route], TIME_BOUNDS, &s);
  return snap_quantile(&s, q);
}

/* ---- rendering ---- */

/* A label value as the text format wants it: backslash, double quote and line feed
 * escaped, and U+FFFD for bytes that are not UTF-8 (a scraper refuses the whole page for
 * one). Model names come from directory names, so any byte can show up here. */
static void buf_label_value(api_buf_t *b, const char *str) {
  const unsigned char *s = (const unsigned char *)(str != NULL ? str : "");
  size_t n = strlen((const char *)s);
  for (size_t i = 0; i < n;) {
    size_t l = api_utf8_len(s + i, n - i);
    if (s[i] == '\\' || s[i] == '"')
      api_buf_put(b, s[i] == '\\' ? "\\\\" : "\\\"", 2);
    else if (s[i] == '\n')
      api_buf_put(b, "\\n", 2);
    else if (l == 0)
      api_buf_put(b, "\xEF\xBF\xBD", 3);
    else
      api_buf_put(b, s + i, l);
    i += l ? l : 1;
  }
}

/* A sample value: integers exactly, other values with enough digits to round-trip. */
static void buf_value(api_buf_t *b, double v) {
  if (isnan(v))
    api_buf_puts(b, "NaN");
  else if (isinf(v))
    api_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
  else {
    /* The shortest of %.15g..%.17g that reads back as V: 0.3, not 0.29999999999999999. */
    char text[32];
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(text, sizeof text, "%.*g", prec, v);
      if (strtod(text, NULL) == v) break;
    }
    api_buf_puts(b, text);
  }
}

static void family(api_buf_t *b, const char *name, const char *type, const char *help) {
  api_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* NAME SUFFIX{LABELS,le="LE"}: LABELS is an escaped label list ("" for none), LE optional. */
static void series_name(api_buf_t *b, const char *name, const char *suffix, const char *labels,
                        const char *le) {
  api_buf_puts(b, name);
  api_buf_puts(b, suffix);
  if (*labels == '\0' && le == NULL) return;
  api_buf_puts(b, "{");
  api_buf_puts(b, labels);
  if (le != NULL) api_buf_printf(b, "%sle=\"%s\"", *labels ? "," : "", le);
  api_buf_puts(b, "}");
}

/* One sample line: NAME{LABELS} V. */
static void sample_line(api_buf_t *b, const char *name, const char *labels, double v) {
  series_name(b, name, "", labels, NULL);
  api_buf_puts(b, " ");
  buf_value(b, v);
  api_buf_puts(b, "\n");
}

/* How a histogram family is laid out: its bounds, their le text, and its sum's scale. */
typedef struct {
  size_t nbounds;
  const char *const *le; /* NULL: powers of two */
  double sum_scale;
} hist_layout_t;

static const hist_layout_t time_layout = {TIME_BOUNDS, time_labels, 1 / NS_PER_S};
static const hist_layout_t rows_layout = {ROWS_BOUNDS, NULL, 1};
static const hist_layout_t reqs_layout = {REQS_BOUNDS, NULL, 1};

/* One histogram's series: cumulative buckets, _sum and _count, with label list LABELS. */
static void hist_series(api_buf_t *b, const char *name, const hist_snap_t *s,
                        const hist_layout_t *layout, const char *labels) {
  uint64_t cum = 0;
  char le[32];
  for (size_t i = 0; i <= layout->nbounds; i++) {
    cum += s->buckets[i];
    if (i == layout->nbounds)
      snprintf(le, sizeof le, "+Inf");
    else if (layout->le != NULL)
      snprintf(le, sizeof le, "%s", layout->le[i]);
    else
      snprintf(le, sizeof le, "%llu", 1ull << i);
    series_name(b, name, "_bucket", labels, le);
    api_buf_printf(b, " %llu\n", (unsigned long long)cum);
  }
  series_name(b, name, "_sum", labels, NULL);
  api_buf_puts(b, " ");
  buf_value(b, (double)s->sum * layout->sum_scale);
  api_buf_puts(b, "\n");
  series_name(b, name, "_count", labels, NULL);
  api_buf_printf(b, " %llu\n", (unsigned long long)s->count);
}

/* The served models as the renderer sees them: each one's escaped name and its slot (NULL
 * until its first request), and a scratch buffer for label lists. */
typedef struct {
  size_t n;
  const char **names;
  metrics_slot_t **slots;
  api_buf_t text;   /* the escaped names, NUL-separated */
  api_buf_t labels; /* scratch: the label list being written */
} render_models_t;

static int render_models_init(render_models_t *rm, metrics_t *m, const metrics_model_t *models,
                              size_t n) {
  memset(rm, 0, sizeof *rm);
  rm->names = calloc(n ? n : 1, sizeof *rm->names);
  rm->slots = calloc(n ? n : 1, sizeof *rm->slots);
  size_t *at = calloc(n ? n : 1, sizeof *at);
  if (rm->names == NULL || rm->slots == NULL || at == NULL) {
    free(at);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    at[i] = rm->text.len;
    buf_label_value(&rm->text, models[i].name);
    api_buf_put(&rm->text, "", 1);
    const char *name = models[i].name != NULL ? models[i].name : "";
    rm->slots[i] = slot_by_name(m, name_hash(name), name);
  }
  for (size_t i = 0; i < n && !rm->text.failed; i++) rm->names[i] = rm->text.data + at[i];
  free(at);
  rm->n = n;
  return rm->text.failed ? -1 : 0;
}

static void render_models_free(render_models_t *rm) {
  free(rm->names);
  free(rm->slots);
  free(rm->text.data);
  free(rm->labels.data);
}

/* The label list route="ROUTE",model="MODEL" (either may be NULL; MODEL escaped already). */
static const char *labels_of(render_models_t *rm, const char *route, const char *model) {
  api_buf_t *lb = &rm->labels;
  lb->len = 0;
  if (route != NULL) api_buf_printf(lb, "route=\"%s\"", route);
  if (model != NULL) api_buf_printf(lb, "%smodel=\"%s\"", route != NULL ? "," : "", model);
  api_buf_put(lb, "", 1);
  lb->len--;
  return lb->failed ? "" : lb->data;
}

/* grove_requests_total lines of one label list: the codes that have counted something, and
 * 200 always when SHOW_OK (a served model's, so that rate() starts from zero). */
static void request_lines(api_buf_t *b, const char *labels, _Atomic uint64_t *counts, int show_ok) {
  for (size_t c = 0; c <= NUM_CODES; c++) {
    uint64_t v = counts != NULL ? atomic_load_explicit(&counts[c], memory_order_relaxed) : 0;
    if (v == 0 && !(show_ok && c < NUM_CODES && status_codes[c] == 200)) continue;
    api_buf_printf(b, "grove_requests_total{%s,code=\"", labels);
    if (c < NUM_CODES)
      api_buf_printf(b, "%d", status_codes[c]);
    else
      api_buf_puts(b, "other");
    api_buf_printf(b, "\"} %llu\n", (unsigned long long)v);
  }
}

/* Requests by route and status, and their latency; predictions by model too. */
static void render_requests(api_buf_t *b, metrics_t *m, render_models_t *rm) {
  family(b, "grove_requests_total", "counter",
         "HTTP requests answered, by route and status code; on the prediction routes also by "
         "served model (none when the request was refused before its model was known).");
  for (int r = 0; r < METRICS_ROUTE_COUNT; r++) {
    request_lines(b, labels_of(rm, route_names[r], NULL), m->requests[r], 0);
    for (size_t i = 0; r < PREDICTION_ROUTES && i < rm->n; i++)
      request_lines(b, labels_of(rm, route_names[r], rm->names[i]),
                    rm->slots[i] ? rm->slots[i]->requests[r] : NULL, 1);
  }
  /* Served models' series always, so that rate() has a zero to start from; the rest once
   * they have counted a request. */
  family(b, "grove_request_duration_seconds", "histogram",
         "Time from the request's first byte to its response being queued, by route (and "
         "served model on the prediction routes).");
  for (int r = 0; r < METRICS_ROUTE_COUNT; r++) {
    hist_snap_t s;
    hist_snapshot(&m->request_seconds[r], TIME_BOUNDS, &s);
    if (s.count > 0)
      hist_series(b, "grove_request_duration_seconds", &s, &time_layout,
                  labels_of(rm, route_names[r], NULL));
    for (size_t i = 0; r < PREDICTION_ROUTES && i < rm->n; i++) {
      hist_snapshot(rm->slots[i] ? &rm->slots[i]->request_seconds[r] : NULL, TIME_BOUNDS, &s);
      hist_series(b, "grove_request_duration_seconds", &s, &time_layout,
                  labels_of(rm, route_names[r], rm->names[i]));
    }
  }
}

/* The counter at OFFSET in C (NULL: a model not counted yet). */
static double counter_at(batch_counts_t *c, size_t offset) {
  if (c == NULL) return 0;
  return (double)atomic_load_explicit((_Atomic uint64_t *)((char *)c + offset),
                                      memory_order_relaxed);
}

/* The histogram at OFFSET in C (NULL when C is). */
static hist_t *hist_at(batch_counts_t *c, size_t offset) {
  return c != NULL ? (hist_t *)((char *)c + offset) : NULL;
}

/* A batch counter: one series per served model, one without a model once it has counted. */
static void batch_counter(api_buf_t *b, metrics_t *m, render_models_t *rm, const char *name,
                          const char *help, size_t offset) {
  family(b, name, "counter", help);
  double v = counter_at(&m->batch, offset);
  if (v > 0) sample_line(b, name, "", v);
  for (size_t i = 0; i < rm->n; i++)
    sample_line(b, name, labels_of(rm, NULL, rm->names[i]),
                counter_at(rm->slots[i] ? &rm->slots[i]->batch : NULL, offset));
}

/* A batch histogram, laid out as LAYOUT, with the same series as batch_counter. */
static void batch_hist(api_buf_t *b, metrics_t *m, render_models_t *rm, const char *name,
                       const char *help, size_t offset, const hist_layout_t *layout) {
  family(b, name, "histogram", help);
  hist_snap_t s;
  hist_snapshot(hist_at(&m->batch, offset), layout->nbounds, &s);
  if (s.count > 0) hist_series(b, name, &s, layout, "");
  for (size_t i = 0; i < rm->n; i++) {
    hist_snapshot(hist_at(rm->slots[i] ? &rm->slots[i]->batch : NULL, offset), layout->nbounds, &s);
    hist_series(b, name, &s, layout, labels_of(rm, NULL, rm->names[i]));
  }
}

/* The engine side, by model: rows, batches, batch sizes, queue wait and engine time. */
static void render_batches(api_buf_t *b, metrics_t *m, render_models_t *rm) {
  batch_counter(b, m, rm, "grove_rows_predicted_total", "Rows scored by the engine, by model.",
                offsetof(batch_counts_t, rows_predicted));
  batch_counter(b, m, rm, "grove_batches_total", "Engine batches run, by model.",
                offsetof(batch_counts_t, batches));
  batch_hist(b, m, rm, "grove_batch_rows", "Rows per engine batch (a batch is one model's).",
             offsetof(batch_counts_t, batch_rows), &rows_layout);
  batch_hist(b, m, rm, "grove_batch_requests", "Requests merged into one engine batch.",
             offsetof(batch_counts_t, batch_requests), &reqs_layout);
  batch_hist(b, m, rm, "grove_queue_wait_seconds",
             "Time a request waited in the queue for its batch.",
             offsetof(batch_counts_t, queue_wait), &time_layout);
  batch_hist(b, m, rm, "grove_engine_seconds", "Engine time per batch.",
             offsetof(batch_counts_t, engine_seconds), &time_layout);
  batch_counter(b, m, rm, "grove_explain_requests_total",
                "Requests that asked for contributions or leaves, by model.",
                offsetof(batch_counts_t, explain_requests));
  batch_counter(b, m, rm, "grove_explain_rows_total", "Rows explained by the engine, by model.",
                offsetof(batch_counts_t, explain_rows));
  batch_hist(b, m, rm, "grove_explain_engine_seconds",
             "Engine time per batch spent on contributions and leaves (beyond "
             "grove_engine_seconds' predictions).",
             offsetof(batch_counts_t, explain_seconds), &time_layout);
}

/* In-flight and queued work, abandoned and refused requests. */
static void render_gauges(api_buf_t *b, metrics_t *m) {
  family(b, "grove_inflight_requests", "gauge", "Requests received and not yet answered.");
  api_buf_printf(b, "grove_inflight_requests %lld\n",
                 (long long)atomic_load_explicit(&m->inflight, memory_order_relaxed));
  family(b, "grove_queued_rows", "gauge", "Rows waiting for an engine worker.");
  api_buf_printf(b, "grove_queued_rows %lld\n",
                 (long long)atomic_load_explicit(&m->queued_rows, memory_order_relaxed));

  family(b, "grove_requests_reset_total", "counter",
         "Predictions their client abandoned before the answer (HTTP/2 RST_STREAM, a closed "
         "connection); one reset before its batch starts is not scored.");
  api_buf_printf(b, "grove_requests_reset_total %llu\n",
                 (unsigned long long)atomic_load_explicit(&m->resets, memory_order_relaxed));
  family(b, "grove_rejected_total", "counter",
         "Requests refused before the engine, by reason (queue_full: 503, deadline: 504).");
  for (int i = 0; i < NUM_REJECT; i++) {
    uint64_t v = atomic_load_explicit(&m->rejected[i], memory_order_relaxed);
    if (i == REJECT_OTHER && v == 0) continue;
    api_buf_printf(b, "grove_rejected_total{reason=\"%s\"} %llu\n", reject_names[i],
                   (unsigned long long)v);
  }
}

typedef enum {
  MF_TREES,
  MF_FEATURES,
  MF_LOADED_AT,
  MF_LOAD_SECONDS,
  MF_RELOADS,
  MF_RELOAD_FAILURES
} model_field_t;

static double model_field(const metrics_model_t *mm, model_field_t f) {
  switch (f) {
    case MF_TREES:
      return mm->trees;
    case MF_FEATURES:
      return mm->features;
    case MF_LOADED_AT:
      return mm->loaded_at;
    case MF_LOAD_SECONDS:
      return mm->load_seconds;
    case MF_RELOADS:
      return (double)mm->reloads;
    case MF_RELOAD_FAILURES:
      break;
  }
  return (double)mm->reload_failures;
}

/* What the registry knows of each served model. */
static void render_models(api_buf_t *b, const metrics_model_t *models, render_models_t *rm) {
  family(b, "grove_model_info", "gauge",
         "Loaded models: format, objective and kernel ISA (value 1).");
  for (size_t i = 0; i < rm->n; i++) {
    const metrics_model_t *mm = &models[i];
    api_buf_printf(b, "grove_model_info{model=\"%s\",format=\"", rm->names[i]);
    buf_label_value(b, mm->format);
    api_buf_puts(b, "\",objective=\"");
    buf_label_value(b, mm->objective);
    api_buf_puts(b, "\",isa=\"");
    buf_label_value(b, mm->isa);
    api_buf_puts(b, "\"} 1\n");
  }
  static const struct {
    const char *name, *type, *help;
    model_field_t field;
  } per_model[] = {
      {"grove_model_trees", "gauge", "Trees in the model.", MF_TREES},
      {"grove_model_features", "gauge", "Input features of the model.", MF_FEATURES},
      {"grove_model_loaded_timestamp_seconds", "gauge",
       "Unix time the model's current version was loaded.", MF_LOADED_AT},
      {"grove_model_load_seconds", "gauge", "Seconds the last successful load took.",
       MF_LOAD_SECONDS},
      {"grove_model_reloads_total", "counter", "Successful reloads of the model.", MF_RELOADS},
      {"grove_model_reload_failures_total", "counter",
       "Failed reloads of the model (the old version kept serving).", MF_RELOAD_FAILURES},
  };
  for (size_t k = 0; k < sizeof per_model / sizeof per_model[0]; k++) {
    family(b, per_model[k].name, per_model[k].type, per_model[k].help);
    for (size_t i = 0; i < rm->n; i++)
      sample_line(b, per_model[k].name, labels_of(rm, NULL, rm->names[i]),
                  model_field(&models[i], per_model[k].field));
  }
}

/* ---- the process, from /proc/self ---- */

/* Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize) and 24 (rss) of
 * /proc/self/stat into F; -1 when it cannot be read. */
static int proc_self_stat(unsigned long long f[5]) {
  static const int want[5] = {14, 15, 22, 23, 24};
  char buf[1024];
  FILE *fp = fopen("/proc/self/stat", "r");
  if (fp == NULL) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  /* Field 2 is the command name in parentheses, which may hold spaces and ')'. */
  char *p = strrchr(buf, ')');
  if (p == NULL) return -1;
  p++;
  for (int field = 3, k = 0; k < 5; field++) {
    while (*p == ' ') p++;
    if (*p == '\0') return -1;
    if (field == want[k]) f[k++] = strtoull(p, NULL, 10);
    while (*p != '\0' && *p != ' ') p++;
  }
  return 0;
}

/* Unix time the process started: boot time (/proc/stat btime) plus its start in clock
 * ticks after boot, as the client libraries compute it. NaN when /proc cannot tell. */
static double process_start_time(void) {
  unsigned long long f[5];
  long ticks = sysconf(_SC_CLK_TCK);
  FILE *fp = fopen("/proc/stat", "r");
  if (fp == NULL) return NAN;
  char line[256];
  double btime = NAN;
  while (isnan(btime) && fgets(line, sizeof line, fp) != NULL)
    if (strncmp(line, "btime ", 6) == 0) btime = strtod(line + 6, NULL);
  fclose(fp);
  if (ticks <= 0 || proc_self_stat(f) != 0) return NAN;
  return btime + (double)f[2] / (double)ticks;
}

/* Open file descriptors: the entries of /proc/self/fd but the one reading it. */
static double open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return NAN;
  int own = dirfd(d);
  long n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.' && atoi(e->d_name) != own) n++;
  closedir(d);
  return (double)n;
}

static void process_family(api_buf_t *b, const char *name, const char *type, const char *help,
                           double v) {
  if (isnan(v)) return; /* not on this system: no family rather than a NaN */
  family(b, name, type, help);
  sample_line(b, name, "", v);
}

/* The process_* families as the Prometheus client libraries define them. */
static void render_process(api_buf_t *b, metrics_t *m) {
  unsigned long long f[5];
  long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  int stat_ok = ticks > 0 && page > 0 && proc_self_stat(f) == 0;
  struct rlimit rl;
  double max_fds = getrlimit(RLIMIT_NOFILE, &rl) != 0 ? NAN
                   : rl.rlim_cur == RLIM_INFINITY     ? INFINITY
                                                      : (double)rl.rlim_cur;
  process_family(b, "process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.",
                 stat_ok ? (double)(f[0] + f[1]) / (double)ticks : NAN);
  process_family(b, "process_open_fds", "gauge", "Number of open file descriptors.", open_fds());
  process_family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                 max_fds);
  process_family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                 stat_ok ? (double)f[3] : NAN);
  process_family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                 stat_ok ? (double)f[4] * (double)page : NAN);
  process_family(b, "process_start_time_seconds", "gauge",
                 "Start time of the process since unix epoch in seconds.", m->start_time);
}

char *metrics_render(metrics_t *m, const metrics_model_t *models, size_t num_models, size_t *len) {
  render_models_t rm;
  if (render_models_init(&rm, m, models, models != NULL ? num_models : 0) != 0) {
    render_models_free(&rm);
    return NULL;
  }
  api_buf_t b = {0};
  render_requests(&b, m, &rm);
  render_batches(&b, m, &rm);
  render_gauges(&b, m);
  render_models(&b, models, &rm);
  render_process(&b, m);
  family(&b, "grove_build_info", "gauge", "The grove version (value 1).");
  api_buf_puts(&b, "grove_build_info{version=\"");
  buf_label_value(&b, GROVE_VERSION);
  api_buf_puts(&b, "\"} 1\n");
  render_models_free(&rm);

  api_body_t body;
  if (api_buf_finish(&b, "text/plain", &body) != 0) return NULL;
  if (len != NULL) *len = body.len;
  return body.data;
}
