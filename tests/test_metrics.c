/* Metrics: exact sums under concurrent updates, the text format, bucket placement and
 * the quantile estimate. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "test.h"

#define THREADS 8
#define UPDATES 50000

static void *hammer(void *arg) {
  metrics_t *m = arg;
  for (int i = 0; i < UPDATES; i++) {
    metrics_inflight_add(m, 1);
    metrics_queued_rows_add(m, 3);
    metrics_queue_wait(m, 0.0002);
    metrics_batch_done(m, 3, 2, 0.001);
    metrics_queued_rows_add(m, -3);
    metrics_request_done(m, METRICS_ROUTE_PREDICT, i % 10 == 0 ? 422 : 200, 0.001);
    if (i % 100 == 0) metrics_rejected(m, "queue_full");
    metrics_inflight_add(m, -1);
  }
  return NULL;
}

/* The value of the sample whose name-and-labels part is exactly SERIES, or -1. */
static double sample(const char *text, const char *series) {
  size_t n = strlen(series);
  for (const char *line = text; *line;) {
    const char *eol = strchr(line, '\n');
    if (eol == NULL) eol = line + strlen(line);
    if ((size_t)(eol - line) > n && strncmp(line, series, n) == 0 && line[n] == ' ')
      return strtod(line + n + 1, NULL);
    line = *eol ? eol + 1 : eol;
  }
  return -1;
}

/*
 * Walks every line: comments are "# HELP name text" / "# TYPE name type"; samples are
 * "name{labels} value". Within each histogram series the buckets must not decrease,
 * the last must be le="+Inf", and the following _count must equal it. Returns the number
 * of problems (printed as TAP comments).
 */
static int check_exposition(const char *text, int *histograms) {
  int bad = 0;
  double prev = -1, inf = -1;
  char key[512] = "";
  *histograms = 0;
  for (const char *line = text; *line;) {
    const char *eol = strchr(line, '\n');
    if (eol == NULL) {
      printf("# last line has no newline\n");
      return bad + 1;
    }
    char l[1024];
    size_t len = (size_t)(eol - line) < sizeof l - 1 ? (size_t)(eol - line) : sizeof l - 1;
    memcpy(l, line, len);
    l[len] = '\0';
    line = eol + 1;
    if (l[0] == '#') {
      if (strncmp(l, "# HELP grove_", 13) != 0 && strncmp(l, "# TYPE grove_", 13) != 0) {
        printf("# bad comment: %s\n", l);
        bad++;
      }
      continue;
    }
    if (strncmp(l, "grove_", 6) != 0) {
      printf("# bad sample: %s\n", l);
      bad++;
      continue;
    }
    const char *space = strrchr(l, ' ');
    char *end;
    double v = space ? strtod(space + 1, &end) : NAN;
    if (space == NULL || *end != '\0' || isnan(v)) {
      printf("# bad value: %s\n", l);
      bad++;
      continue;
    }
    const char *le = strstr(l, "le=\"");
    if (strstr(l, "_bucket") != NULL && le != NULL) {
      char k[512];
      snprintf(k, sizeof k, "%.*s", (int)(le - l), l);
      if (strcmp(k, key) != 0) {
        if (prev >= 0 && inf < 0) {
          printf("# series without +Inf: %s\n", key);
          bad++;
        }
        snprintf(key, sizeof key, "%s", k);
        prev = -1;
        inf = -1;
      }
      if (v < prev) {
        printf("# bucket decreases: %s\n", l);
        bad++;
      }
      prev = v;
      if (strncmp(le, "le=\"+Inf\"", 9) == 0) inf = v;
    } else if (strstr(l, "_count") != NULL && strstr(l, "_bucket") == NULL) {
      if (inf < 0 || v != inf) {
        printf("# _count %g != +Inf bucket %g: %s\n", v, inf, l);
        bad++;
      }
      (*histograms)++;
      key[0] = '\0';
      prev = inf = -1;
    }
  }
  return bad;
}

static void test_concurrent(void) {
  metrics_t *m = metrics_new();
  CHECK(m != NULL, "metrics_new");
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, hammer, m);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  size_t len = 0;
  char *text = metrics_render(m, NULL, 0, &len);
  CHECK(text != NULL && len == strlen(text), "render returns text and its length");
  const double n = (double)THREADS * UPDATES;
  CHECK(sample(text, "grove_requests_total{route=\"predict\",code=\"200\"}") == n * 0.9,
        "200s sum exactly");
  CHECK(sample(text, "grove_requests_total{route=\"predict\",code=\"422\"}") == n * 0.1,
        "422s sum exactly");
  CHECK(sample(text, "grove_request_duration_seconds_count{route=\"predict\"}") == n,
        "request count");
  CHECK(sample(text, "grove_request_duration_seconds_sum{route=\"predict\"}") == n * 0.001,
        "request seconds sum exactly (kept in ns)");
  CHECK(sample(text, "grove_request_duration_seconds_bucket{route=\"predict\",le=\"0.001\"}") == n,
        "1 ms lands in le=0.001");
  CHECK(sample(text, "grove_request_duration_seconds_bucket{route=\"predict\",le=\"0.0005\"}") == 0,
        "and not below");
  CHECK(sample(text, "grove_rows_predicted_total") == 3 * n, "rows predicted");
  CHECK(sample(text, "grove_batches_total") == n, "batches");
  CHECK(sample(text, "grove_batch_rows_sum") == 3 * n, "batch rows sum");
  CHECK(sample(text, "grove_batch_rows_bucket{le=\"2\"}") == 0 &&
            sample(text, "grove_batch_rows_bucket{le=\"4\"}") == n,
        "3 rows land in le=4");
  CHECK(sample(text, "grove_batch_requests_bucket{le=\"2\"}") == n, "2 requests land in le=2");
  CHECK(sample(text, "grove_queue_wait_seconds_count") == n, "queue waits");
  CHECK(sample(text, "grove_queue_wait_seconds_sum") == n * 0.0002, "queue wait sum");
  CHECK(sample(text, "grove_engine_seconds_count") == n, "engine batches");
  CHECK(sample(text, "grove_inflight_requests") == 0, "inflight back to 0");
  CHECK(sample(text, "grove_queued_rows") == 0, "queued rows back to 0");
  CHECK(sample(text, "grove_rejected_total{reason=\"queue_full\"}") == n / 100, "rejections");
  CHECK(sample(text, "grove_rejected_total{reason=\"deadline\"}") == 0,
        "deadline rejections shown at 0");
  int hists;
  CHECK_EQ_INT(check_exposition(text, &hists), 0,
               "exposition well formed, buckets cumulative, +Inf == _count");
  CHECK_EQ_INT(hists, 6, "histogram series: predict, infer, rows, requests, queue wait, engine");
  free(text);
  metrics_free(m);
}

static void test_render(void) {
  metrics_t *m = metrics_new();
  metrics_request_done(m, METRICS_ROUTE_INFER, 418, 0.02);
  metrics_request_done(m, (metrics_route_t)99, 404, 0.0);
  metrics_request_done(m, METRICS_ROUTE_METRICS, 200, -1.0); /* a clock step: counted as 0 */
  metrics_request_done(m, METRICS_ROUTE_HEALTH, 200, NAN);
  metrics_batch_done(m, 0, 1, 20.0);
  metrics_batch_done(m, 1, 1024, 0.0);
  metrics_batch_done(m, 65536, 1025, 0.0);
  metrics_batch_done(m, 65537, 1, 0.0);
  metrics_rejected(m, "deadline");
  metrics_rejected(m, "bogus");
  metrics_inflight_add(m, 5);
  metrics_queued_rows_add(m, 7);
  metrics_model_t models[2] = {
      {.name = "income",
       .format = "xgboost-json",
       .objective = "binary:logistic",
       .trees = 100,
       .features = 14,
       .isa = "avx2",
       .loaded_at = 1700000000.5,
       .load_seconds = 0.25,
       .reloads = 2,
       .reload_failures = 1},
      {.name = "we\"ird\\name\nx",
       .format = "xgboost-ubj",
       .objective = NULL,
       .trees = 1,
       .features = 2,
       .isa = "scalar"},
  };
  size_t len;
  char *text = metrics_render(m, models, 2, &len);
  CHECK(text != NULL, "render");
  CHECK_CONTAINS(text, "# HELP grove_requests_total ", "HELP line");
  CHECK_CONTAINS(text, "# TYPE grove_requests_total counter\n", "TYPE counter");
  CHECK_CONTAINS(text, "# TYPE grove_request_duration_seconds histogram\n", "TYPE histogram");
  CHECK_CONTAINS(text, "# TYPE grove_inflight_requests gauge\n", "TYPE gauge");
  CHECK_CONTAINS(text, "grove_requests_total{route=\"infer\",code=\"other\"} 1\n",
                 "418 counts as other");
  CHECK_CONTAINS(text, "grove_requests_total{route=\"other\",code=\"404\"} 1\n",
                 "unknown route counts as other");
  CHECK_CONTAINS(text, "grove_request_duration_seconds_bucket{route=\"infer\",le=\"0.01\"} 0\n",
                 "20 ms not <= 10 ms");
  CHECK_CONTAINS(text, "grove_request_duration_seconds_bucket{route=\"infer\",le=\"0.025\"} 1\n",
                 "20 ms <= 25 ms");
  CHECK_CONTAINS(text,
                 "grove_request_duration_seconds_bucket{route=\"metrics\",le=\"0.00005\"} 1\n",
                 "negative duration in the first bucket");
  CHECK_CONTAINS(text, "grove_request_duration_seconds_sum{route=\"health\"} 0\n",
                 "NaN duration adds 0");
  CHECK(strstr(text, "route=\"admin\"") == NULL, "routes without requests are left out");
  CHECK_CONTAINS(text, "grove_request_duration_seconds_count{route=\"predict\"} 0\n",
                 "predict always shown");
  CHECK_CONTAINS(text, "grove_batch_rows_bucket{le=\"1\"} 2\n", "0 and 1 rows in le=1");
  CHECK_CONTAINS(text, "grove_batch_rows_bucket{le=\"65536\"} 3\n", "65536 rows in le=65536");
  CHECK_CONTAINS(text, "grove_batch_rows_bucket{le=\"+Inf\"} 4\n", "65537 rows in +Inf");
  CHECK_CONTAINS(text, "grove_batch_requests_bucket{le=\"1024\"} 3\n", "1024 requests in le=1024");
  CHECK_CONTAINS(text, "grove_batch_requests_bucket{le=\"+Inf\"} 4\n", "1025 requests in +Inf");
  CHECK_CONTAINS(text, "grove_engine_seconds_bucket{le=\"10\"} 3\n", "20 s engine time above 10 s");
  CHECK_CONTAINS(text, "grove_engine_seconds_sum 20\n", "engine sum");
  CHECK_CONTAINS(text, "grove_rejected_total{reason=\"deadline\"} 1\n", "deadline");
  CHECK_CONTAINS(text, "grove_rejected_total{reason=\"other\"} 1\n", "unknown reason");
  CHECK_CONTAINS(text, "grove_inflight_requests 5\n", "inflight gauge");
  CHECK_CONTAINS(text, "grove_queued_rows 7\n", "queued rows gauge");
  CHECK_CONTAINS(
      text,
      "grove_model_info{model=\"income\",format=\"xgboost-json\",objective=\"binary:logistic\","
      "isa=\"avx2\"} 1\n",
      "model info");
  CHECK_CONTAINS(
      text,
      "grove_model_info{model=\"we\\\"ird\\\\name\\nx\",format=\"xgboost-ubj\",objective=\"\",",
      "label values escaped; NULL is empty");
  CHECK_CONTAINS(text, "grove_model_trees{model=\"we\\\"ird\\\\name\\nx\"} 1\n",
                 "escaped in every family");
  CHECK_CONTAINS(text, "grove_model_trees{model=\"income\"} 100\n", "trees");
  CHECK_CONTAINS(text, "grove_model_features{model=\"income\"} 14\n", "features");
  CHECK_CONTAINS(text, "grove_model_loaded_timestamp_seconds{model=\"income\"} 1700000000.5\n",
                 "loaded at");
  CHECK_CONTAINS(text, "grove_model_load_seconds{model=\"income\"} 0.25\n", "load seconds");
  CHECK_CONTAINS(text, "grove_model_reloads_total{model=\"income\"} 2\n", "reloads");
  CHECK_CONTAINS(text, "grove_model_reload_failures_total{model=\"income\"} 1\n",
                 "reload failures");
  CHECK_CONTAINS(text, "# TYPE grove_model_reloads_total counter\n", "reloads is a counter");
  CHECK_CONTAINS(text, "grove_uptime_seconds ", "uptime");
  CHECK(sample(text, "grove_uptime_seconds") >= 0 && sample(text, "grove_uptime_seconds") < 60,
        "uptime small");
  CHECK_CONTAINS(text, "grove_build_info{version=\"", "build info");
  int hists;
  CHECK_EQ_INT(check_exposition(text, &hists), 0, "exposition well formed");
  CHECK_EQ_INT(hists, 9, "histogram series: 5 routes (predict, infer, health, metrics, other) + 4");
  free(text);
  metrics_free(m);
}

static void test_quantile(void) {
  metrics_t *m = metrics_new();
  CHECK(isnan(metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 0.5)), "empty histogram: NaN");
  for (int i = 0; i < 50; i++)
    metrics_request_done(m, METRICS_ROUTE_PREDICT, 200, 0.0003); /* (0.00025, 0.0005] */
  for (int i = 0; i < 50; i++)
    metrics_request_done(m, METRICS_ROUTE_PREDICT, 200, 0.003); /* (0.0025, 0.005] */
  double q25 = metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 0.25);
  double q50 = metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 0.5);
  double q75 = metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 0.75);
  double q100 = metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 1.0);
  printf("# q25 %g q50 %g q75 %g q100 %g\n", q25, q50, q75, q100);
  CHECK(fabs(q25 - 0.000375) < 1e-12, "q25 interpolated halfway into (0.00025, 0.0005]");
  CHECK(fabs(q50 - 0.0005) < 1e-12, "q50 at the top of the first filled bucket");
  CHECK(fabs(q75 - 0.00375) < 1e-12, "q75 halfway into (0.0025, 0.005]");
  CHECK(fabs(q100 - 0.005) < 1e-12, "q100 at the top of the last filled bucket");
  CHECK(isinf(metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 1.5)),
        "q > 1: +Inf as in Prometheus");
  CHECK(isnan(metrics_request_quantile(m, METRICS_ROUTE_INFER, 0.5)), "other route still empty");
  for (int i = 0; i < 100; i++) metrics_request_done(m, METRICS_ROUTE_PREDICT, 200, 30.0);
  CHECK(metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 0.99) == 10.0,
        "in +Inf: the highest finite bound");
  for (int i = 0; i < 10; i++) metrics_request_done(m, METRICS_ROUTE_ADMIN, 200, 0.00001);
  CHECK(fabs(metrics_request_quantile(m, METRICS_ROUTE_ADMIN, 0.5) - 0.000025) < 1e-12,
        "first bucket interpolates from 0");
  metrics_free(m);
}

int main(void) {
  test_concurrent();
  test_render();
  test_quantile();
  return test_done();
}
