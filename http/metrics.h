/*
 * Daemon metrics: counters, gauges and fixed-bucket histograms updated with relaxed
 * atomics from any thread (I/O loops and workers), rendered in Prometheus text format.
 * Predictions are also counted per served model (model="..." labels), in a slot each model
 * gets on its first request.
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
  METRICS_ROUTE_COUNT,
  /* Values from METRICS_ROUTE_COUNT up are a prediction route with its model's slot folded
   * in (metrics_route_of_model); this member makes the type wide enough to hold them. */
  METRICS_ROUTE_WITH_MODEL_MAX = 0x7fffffff
} metrics_route_t;

typedef struct metrics metrics_t;

/* One served model's prediction counters; owned by the metrics_t, which never frees one
 * before metrics_free. */
typedef struct metrics_slot metrics_slot_t;

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

/*
 * The slot of served model NAME, made on its first call; NULL when out of memory (the
 * request is then counted without a model label). Every slot's name becomes a label value,
 * so call it only with the name of a model the registry serves: the number of slots, and
 * of model series, is then bounded by the registry's model count, whatever names clients
 * send. Lock-free once NAME has a slot.
 */
metrics_slot_t *metrics_model_slot(metrics_t *m, const char *name);

/* ROUTE (predict or infer) answering for SLOT's model, as the respond_*() calls carry it to
 * metrics_request_done(); any other route, or a NULL SLOT, is returned unchanged. */
metrics_route_t metrics_route_of_model(metrics_route_t route, const metrics_slot_t *slot);

/* A request finished with STATUS after SECONDS (counter by route and status + histogram;
 * by model too when ROUTE came from metrics_route_of_model). */
void metrics_request_done(metrics_t *m, metrics_route_t route, int status, double seconds);

/* An engine batch of SLOT's model (NULL: unknown) of ROWS rows from REQUESTS requests took
 * ENGINE_SECONDS. */
void metrics_batch_done(metrics_t *m, metrics_slot_t *slot, size_t rows, size_t requests,
                        double engine_seconds);

/* The explanations (contributions, leaves) of an engine batch of SLOT's model: ROWS rows,
 * REQUESTS requests starting with it, ENGINE_SECONDS beyond the predictions. */
void metrics_explain_done(metrics_t *m, metrics_slot_t *slot, size_t rows, size_t requests,
                          double engine_seconds);

/* A request for SLOT's model (NULL: unknown) waited SECONDS in the queue before its batch
 * started. */
void metrics_queue_wait(metrics_t *m, metrics_slot_t *slot, double seconds);

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
 * Renders every family, with model="..." series for each of the NUM_MODELS MODELS (the
 * served ones: slots of models not listed are not shown). Returns a malloc'd NUL-terminated
 * text (length in *len) or NULL when out of memory. Families:
 *   grove_requests_total{route,code} and, on predict and infer, {route,model,code};
 *   grove_request_duration_seconds (histogram) {route} and {route,model} likewise;
 *   grove_rows_predicted_total{model}, grove_batches_total{model}, and the histograms
 *   grove_batch_rows{model} (1,2,4,...,65536), grove_batch_requests{model} (1..1024),
 *   grove_queue_wait_seconds{model}, grove_engine_seconds{model},
 *   grove_explain_requests_total{model}, grove_explain_rows_total{model},
 *   grove_explain_engine_seconds{model} (histogram) (a series without model
 *   counts what no served model's slot claimed: requests refused before their model was
 *   known, jobs submitted without a slot);
 *   grove_inflight_requests, grove_queued_rows, grove_requests_reset_total,
 *   grove_rejected_total{reason}; grove_model_info{model,format,objective,isa} 1,
 *   grove_model_trees{model}, grove_model_features{model},
 *   grove_model_loaded_timestamp_seconds{model}, grove_model_load_seconds{model},
 *   grove_model_reloads_total{model}, grove_model_reload_failures_total{model};
 *   process_start_time_seconds, process_cpu_seconds_total, process_resident_memory_bytes,
 *   process_virtual_memory_bytes, process_open_fds, process_max_fds (from /proc/self, as the
 *   Prometheus client libraries define them; left out where it cannot be read);
 *   grove_build_info{version} 1.
 */
char *metrics_render(metrics_t *m, const metrics_model_t *models, size_t num_models, size_t *len);

/* Latency quantile Q (0..1) of the request histogram of ROUTE (all models together, or one
 * model's with metrics_route_of_model) estimated from its buckets (for tests and tools;
 * /metrics exports the buckets themselves); NaN when empty. */
double metrics_request_quantile(metrics_t *m, metrics_route_t route, double q);

#endif /* GROVE_METRICS_H */
