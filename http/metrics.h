/*
 * Daemon metrics: counters, gauges and fixed-bucket histograms updated with relaxed
 * atomics from any thread (I/O loops and workers), rendered in Prometheus text format.
 */
#ifndef GROVE_METRICS_H
#define GROVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Routes as the metrics label them (route="..."). */
typedef enum {
  METRICS_ROUTE_PREDICT = 0, /* /predict, /v1/models/{name}/predict */
  METRICS_ROUTE_INFER,       /* /v2/models/{name}/infer */
  METRICS_ROUTE_MODELS,      /* GET /v1/models..., /v2/models/{name}, /v2 */
  METRICS_ROUTE_HEALTH,      /* /v2/health/..., /v2/models/{name}/ready, /healthz */
  METRICS_ROUTE_METRICS,     /* /metrics */
  METRICS_ROUTE_ADMIN,       /* /admin/... */
  METRICS_ROUTE_STATIC,      /* ui files */
  METRICS_ROUTE_OTHER,       /* everything else (404s) */
  METRICS_ROUTE_COUNT
} metrics_route_t;

typedef struct metrics metrics_t;

/* Facts about one loaded model, passed in at render time (the registry owns them). */
typedef struct {
  const char *name;
  const char *format;
  const char *objective;
  uint32_t trees;
  uint32_t features;
  const char *isa;
  double loaded_at; /* unix seconds */
  double load_seconds;
  uint64_t reloads;
  uint64_t reload_failures;
} metrics_model_t;

/* Returns NULL when out of memory. */
metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);

/* A request finished with STATUS after SECONDS (counter by route and status + histogram). */
void metrics_request_done(metrics_t *m, metrics_route_t route, int status, double seconds);

/* An engine batch of ROWS rows from REQUESTS requests took ENGINE_SECONDS. */
void metrics_batch_done(metrics_t *m, size_t rows, size_t requests, double engine_seconds);

/* A request waited SECONDS in the queue before its batch started. */
void metrics_queue_wait(metrics_t *m, double seconds);

/* A prediction's client abandoned it before its answer (HTTP/2 RST_STREAM, a closed
 * connection). */
void metrics_request_reset(metrics_t *m);

/* Gauges: in-flight requests and queued rows move by DELTA. */
void metrics_inflight_add(metrics_t *m, int64_t delta);
void metrics_queued_rows_add(metrics_t *m, int64_t delta);

/* Requests refused before the engine: 503 (queue full) and 504 (deadline) are counted by
 * metrics_request_done too; these count why. */
void metrics_rejected(metrics_t *m, const char *reason); /* "queue_full" | "deadline" */

/*
 * Renders every metric plus one grove_model_info line per model. Returns a malloc'd
 * NUL-terminated text (length in *len) or NULL when out of memory.
 * Metric names: grove_requests_total{route,code}, grove_request_duration_seconds (hist,
 * label route), grove_rows_predicted_total, grove_batches_total,
 * grove_batch_rows (hist: 1,2,4,...,65536), grove_batch_requests (hist),
 * grove_queue_wait_seconds (hist), grove_engine_seconds (hist), grove_inflight_requests,
 * grove_requests_reset_total,
 * grove_queued_rows, grove_rejected_total{reason}, grove_model_info{model,format,
 * objective,isa} 1, grove_model_trees{model}, grove_model_features{model},
 * grove_model_loaded_timestamp_seconds{model}, grove_model_load_seconds{model},
 * grove_model_reloads_total{model}, grove_model_reload_failures_total{model},
 * grove_uptime_seconds, grove_build_info{version}.
 */
char *metrics_render(metrics_t *m, const metrics_model_t *models, size_t num_models, size_t *len);

/* Latency quantile Q (0..1) of the request histogram of ROUTE estimated from its buckets
 * (for tests and tools; /metrics exports the buckets themselves); NaN when empty. */
double metrics_request_quantile(metrics_t *m, metrics_route_t route, double q);

#endif /* GROVE_METRICS_H */
