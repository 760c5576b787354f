/*
 * Daemon metrics. Every update is one or two relaxed atomic adds on counters that no
 * other thread writes in the same cache line as often; metrics_render takes a snapshot
 * bucket by bucket and prints the Prometheus text exposition format 0.0.4.
 */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

struct metrics {
  /* Gauges moved on every request: each on its own line. */
  _Alignas(CACHE_LINE) _Atomic int64_t inflight;
  _Alignas(CACHE_LINE) _Atomic int64_t queued_rows;
  /* Batch counters, written by the workers. */
  _Alignas(CACHE_LINE) _Atomic uint64_t rows_predicted;
  _Atomic uint64_t batches;
  _Alignas(
      CACHE_LINE) _Atomic uint64_t requests[METRICS_ROUTE_COUNT][NUM_CODES + 1]; /* last: "other" */
  _Alignas(CACHE_LINE) _Atomic uint64_t rejected[NUM_REJECT];
  _Atomic uint64_t resets; /* predictions abandoned by their client */
  hist_t request_seconds[METRICS_ROUTE_COUNT];
  hist_t queue_wait;
  hist_t engine_seconds;
  hist_t batch_rows;
  hist_t batch_requests;
  struct timespec started; /* CLOCK_MONOTONIC at metrics_new */
};

static double monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

metrics_t *metrics_new(void) {
  size_t size = (sizeof(metrics_t) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
  metrics_t *m = aligned_alloc(CACHE_LINE, size);
  if (m == NULL) return NULL;
  memset(
      m, 0,
      size); /* all-zero is a valid initial state for these atomics on every target we build for */
  clock_gettime(CLOCK_MONOTONIC, &m->started);
  return m;
}

void metrics_free(metrics_t *m) { free(m); }

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

static metrics_route_t valid_route(metrics_route_t route) {
  return (unsigned)route < METRICS_ROUTE_COUNT ? route : METRICS_ROUTE_OTHER;
}

void metrics_request_done(metrics_t *m, metrics_route_t route, int status, double seconds) {
  route = valid_route(route);
  atomic_fetch_add_explicit(&m->requests[route][status_index(status)], 1, memory_order_relaxed);
  hist_time_add(&m->request_seconds[route], seconds);
}

void metrics_batch_done(metrics_t *m, size_t rows, size_t requests, double engine_seconds) {
  atomic_fetch_add_explicit(&m->rows_predicted, rows, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->batches, 1, memory_order_relaxed);
  hist_count_add(&m->batch_rows, rows, ROWS_BOUNDS);
  hist_count_add(&m->batch_requests, requests, REQS_BOUNDS);
  hist_time_add(&m->engine_seconds, engine_seconds);
}

void metrics_queue_wait(metrics_t *m, double seconds) { hist_time_add(&m->queue_wait, seconds); }

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

static void hist_snapshot(hist_t *h, size_t nbounds, hist_snap_t *s) {
  s->count = 0;
  for (size_t i = 0; i <= nbounds; i++) {
    s->buckets[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    s->count += s->buckets[i];
  }
  s->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
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
  hist_snapshot(&m->request_seconds[valid_route(route)], TIME_BOUNDS, &s);
  return snap_quantile(&s, q);
}

/* ---- rendering ---- */

/* A label value as the text format wants it: backslash, double quote and line feed
 * escaped. Model names come from directory names, so any byte can show up here. */
static void buf_label_value(api_buf_t *b, const char *s) {
  if (s == NULL) s = "";
  if (api_buf_reserve(b, 2 * strlen(s)) != 0) return;
  for (; *s; s++) {
    if (*s == '\\' || *s == '"') {
      b->data[b->len++] = '\\';
      b->data[b->len++] = *s;
    } else if (*s == '\n') {
      b->data[b->len++] = '\\';
      b->data[b->len++] = 'n';
    } else {
      b->data[b->len++] = *s;
    }
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

/* The label set of one histogram series: {NAME="VALUE",le="LE"}, either part optional. */
static void series_labels(api_buf_t *b, const char *label_name, const char *label_value,
                          const char *le) {
  if (label_name == NULL && le == NULL) return;
  api_buf_puts(b, "{");
  if (label_name != NULL) {
    api_buf_printf(b, "%s=\"", label_name);
    buf_label_value(b, label_value);
    api_buf_puts(b, le != NULL ? "\"," : "\"");
  }
  if (le != NULL) api_buf_printf(b, "le=\"%s\"", le);
  api_buf_puts(b, "}");
}

/* One histogram's series: cumulative buckets, _sum (scaled by SUM_SCALE) and _count.
 * LABEL_NAME/LABEL_VALUE: an optional extra label (route). */
static void hist_series(api_buf_t *b, const char *name, const hist_snap_t *s, size_t nbounds,
                        const char *const *labels, double sum_scale, const char *label_name,
                        const char *label_value) {
  uint64_t cum = 0;
  char le[32];
  for (size_t i = 0; i <= nbounds; i++) {
    cum += s->buckets[i];
    if (i == nbounds)
      snprintf(le, sizeof le, "+Inf");
    else if (labels != NULL)
      snprintf(le, sizeof le, "%s", labels[i]);
    else
      snprintf(le, sizeof le, "%llu", 1ull << i);
    api_buf_printf(b, "%s_bucket", name);
    series_labels(b, label_name, label_value, le);
    api_buf_printf(b, " %llu\n", (unsigned long long)cum);
  }
  api_buf_printf(b, "%s_sum", name);
  series_labels(b, label_name, label_value, NULL);
  api_buf_puts(b, " ");
  buf_value(b, (double)s->sum * sum_scale);
  api_buf_printf(b, "\n%s_count", name);
  series_labels(b, label_name, label_value, NULL);
  api_buf_printf(b, " %llu\n", (unsigned long long)s->count);
}

static void simple_hist(api_buf_t *b, hist_t *h, const char *name, const char *help, size_t nbounds,
                        const char *const *labels, double sum_scale) {
  hist_snap_t s;
  hist_snapshot(h, nbounds, &s);
  family(b, name, "histogram", help);
  hist_series(b, name, &s, nbounds, labels, sum_scale, NULL, NULL);
}

/* A per-model gauge or counter line: NAME{model="..."} VALUE. */
static void model_line(api_buf_t *b, const char *name, const char *model, double v) {
  api_buf_printf(b, "%s{model=\"", name);
  buf_label_value(b, model);
  api_buf_puts(b, "\"} ");
  buf_value(b, v);
  api_buf_puts(b, "\n");
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

static void render_models(api_buf_t *b, const metrics_model_t *models, size_t n) {
  family(b, "grove_model_info", "gauge",
         "Loaded models: format, objective and kernel ISA (value 1).");
  for (size_t i = 0; i < n; i++) {
    const metrics_model_t *mm = &models[i];
    api_buf_puts(b, "grove_model_info{model=\"");
    buf_label_value(b, mm->name);
    api_buf_puts(b, "\",format=\"");
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
    for (size_t i = 0; i < n; i++)
      model_line(b, per_model[k].name, models[i].name, model_field(&models[i], per_model[k].field));
  }
}

/* Requests by route and status, and their latency. */
static void render_requests(api_buf_t *b, metrics_t *m) {
  /* Only series that have counted something: 8 routes x 13 codes would be mostly zeros. */
  family(b, "grove_requests_total", "counter", "HTTP requests answered, by route and status code.");
  for (int r = 0; r < METRICS_ROUTE_COUNT; r++) {
    for (size_t c = 0; c <= NUM_CODES; c++) {
      uint64_t v = atomic_load_explicit(&m->requests[r][c], memory_order_relaxed);
      if (v == 0) continue;
      if (c < NUM_CODES)
        api_buf_printf(b, "grove_requests_total{route=\"%s\",code=\"%d\"} %llu\n", route_names[r],
                       status_codes[c], (unsigned long long)v);
      else
        api_buf_printf(b, "grove_requests_total{route=\"%s\",code=\"other\"} %llu\n",
                       route_names[r], (unsigned long long)v);
    }
  }

  /* The prediction routes always, so that rate() has a zero to start from; the others
   * once they have served a request. */
  family(b, "grove_request_duration_seconds", "histogram",
         "Time from the request's first byte to its response being queued, by route.");
  for (int r = 0; r < METRICS_ROUTE_COUNT; r++) {
    hist_snap_t s;
    hist_snapshot(&m->request_seconds[r], TIME_BOUNDS, &s);
    if (s.count == 0 && r != METRICS_ROUTE_PREDICT && r != METRICS_ROUTE_INFER) continue;
    hist_series(b, "grove_request_duration_seconds", &s, TIME_BOUNDS, time_labels, 1 / NS_PER_S,
                "route", route_names[r]);
  }
}

/* The engine side: rows, batches, queue, in-flight and refused requests. */
static void render_engine(api_buf_t *b, metrics_t *m) {
  family(b, "grove_rows_predicted_total", "counter", "Rows scored by the engine.");
  api_buf_printf(
      b, "grove_rows_predicted_total %llu\n",
      (unsigned long long)atomic_load_explicit(&m->rows_predicted, memory_order_relaxed));
  family(b, "grove_batches_total", "counter", "Engine batches run.");
  api_buf_printf(b, "grove_batches_total %llu\n",
                 (unsigned long long)atomic_load_explicit(&m->batches, memory_order_relaxed));

  simple_hist(b, &m->batch_rows, "grove_batch_rows", "Rows per engine batch.", ROWS_BOUNDS, NULL,
              1);
  simple_hist(b, &m->batch_requests, "grove_batch_requests",
              "Requests merged into one engine batch.", REQS_BOUNDS, NULL, 1);
  simple_hist(b, &m->queue_wait, "grove_queue_wait_seconds",
              "Time a request waited in the queue for its batch.", TIME_BOUNDS, time_labels,
              1 / NS_PER_S);
  simple_hist(b, &m->engine_seconds, "grove_engine_seconds", "Engine time per batch.", TIME_BOUNDS,
              time_labels, 1 / NS_PER_S);

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

char *metrics_render(metrics_t *m, const metrics_model_t *models, size_t num_models, size_t *len) {
  api_buf_t b = {0};
  render_requests(&b, m);
  render_engine(&b, m);
  render_models(&b, models, models ? num_models : 0);

  double up = monotonic_seconds() - ((double)m->started.tv_sec + (double)m->started.tv_nsec * 1e-9);
  family(&b, "grove_uptime_seconds", "gauge", "Seconds since the daemon started.");
  api_buf_printf(&b, "grove_uptime_seconds %.3f\n", up);
  family(&b, "grove_build_info", "gauge", "The grove version (value 1).");
  api_buf_puts(&b, "grove_build_info{version=\"");
  buf_label_value(&b, GROVE_VERSION);
  api_buf_puts(&b, "\"} 1\n");

  api_body_t body;
  if (api_buf_finish(&b, "text/plain", &body) != 0) return NULL;
  if (len != NULL) *len = body.len;
  return body.data;
}
