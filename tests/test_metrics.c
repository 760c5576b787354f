/* Metrics: exact sums under concurrent updates, per-model slots and their labels, the text
 * format, bucket placement, the quantile estimate and the process_* families. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "metrics.h"
#include "test.h"

#define THREADS 8
#define UPDATES 50000

/* Thread I updates everything; even threads for model "a", odd ones for model "b", and
 * every fourth update without a model (a request refused before its model was known, a
 * job submitted without a slot). The slot is looked up on each update, as the daemon does
 * once per request, while other threads make it. */
static void *hammer(void *arg) {
  metrics_t *m = ((void **)arg)[0];
  int odd = (int)(intptr_t)((void **)arg)[1] & 1;
  const char *name = odd ? "b" : "a";
  for (int i = 0; i < UPDATES; i++) {
    metrics_slot_t *s = i % 4 == 3 ? NULL : metrics_model_slot(m, name), *batch_slot = s;
    metrics_inflight_add(m, 1);
    metrics_queued_rows_add(m, 3);
    metrics_queue_wait(m, batch_slot, 0.0002);
    metrics_batch_done(m, batch_slot, 3, 2, 0.001);
    metrics_queued_rows_add(m, -3);
    metrics_request_done(m, metrics_route_of_model(METRICS_ROUTE_PREDICT, s),
                         i % 10 == 0 ? 422 : 200, 0.001);
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

/* Lines of TEXT that contain NEEDLE. */
static int count_lines(const char *text, const char *needle) {
  int n = 0;
  for (const char *line = text; *line;) {
    const char *eol = strchr(line, '\n');
    if (eol == NULL) eol = line + strlen(line);
    const char *hit = strstr(line, needle);
    if (hit != NULL && hit < eol) n++;
    line = *eol ? eol + 1 : eol;
  }
  return n;
}

/* Distinct model="..." values in TEXT (escaped as written), up to 8 of them kept in SEEN. */
static int model_values(const char *text, char seen[8][64]) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, "model=\"")) != NULL;) {
    p += 7;
    size_t len = 0;
    while (p[len] != '\0' && !(p[len] == '"' && (len == 0 || p[len - 1] != '\\'))) len++;
    char v[64];
    snprintf(v, sizeof v, "%.*s", (int)(len < 63 ? len : 63), p);
    int known = 0;
    for (int i = 0; i < n && i < 8; i++) known |= strcmp(seen[i], v) == 0;
    if (!known && n < 8) snprintf(seen[n], 64, "%s", v);
    if (!known) n++;
    p += len;
  }
  return n;
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
    const char *name = l[0] == '#' && strlen(l) > 7 ? l + 7 : l;
    if ((l[0] == '#' && strncmp(l, "# HELP ", 7) != 0 && strncmp(l, "# TYPE ", 7) != 0) ||
        (strncmp(name, "grove_", 6) != 0 && strncmp(name, "process_", 8) != 0)) {
      printf("# bad line: %s\n", l);
      bad++;
      continue;
    }
    if (l[0] == '#') continue;
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
  void *args[THREADS][2];
  for (int i = 0; i < THREADS; i++) {
    args[i][0] = m;
    args[i][1] = (void *)(intptr_t)i;
    pthread_create(&t[i], NULL, hammer, args[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  metrics_model_t served[2] = {{.name = "a"}, {.name = "b"}};
  size_t len = 0;
  char *text = metrics_render(m, served, 2, &len);
  CHECK(text != NULL && len == strlen(text), "render returns text and its length");
  const double n = (double)THREADS * UPDATES, per_model = n / 2 * 0.75, none = n * 0.25;
  /* The 422s (i % 10 == 0) are all for a model: the model-less updates are the odd i % 4 == 3. */
  CHECK(sample(text, "grove_requests_total{route=\"predict\",model=\"a\",code=\"200\"}") +
                sample(text, "grove_requests_total{route=\"predict\",model=\"a\",code=\"422\"}") ==
            per_model,
        "model a's requests sum exactly");
  CHECK(sample(text, "grove_requests_total{route=\"predict\",model=\"b\",code=\"422\"}") ==
            n * 0.1 / 2,
        "model b's 422s sum exactly");
  CHECK(sample(text, "grove_requests_total{route=\"predict\",code=\"422\"}") == -1,
        "no 422 without a model: that series is left out");
  CHECK(sample(text, "grove_requests_total{route=\"predict\",code=\"200\"}") == none,
        "200s without a model sum exactly");
  CHECK(sample(text, "grove_request_duration_seconds_count{route=\"predict\",model=\"a\"}") ==
            per_model,
        "model a's request count");
  CHECK(sample(text, "grove_request_duration_seconds_sum{route=\"predict\",model=\"b\"}") ==
            per_model * 0.001,
        "request seconds sum exactly (kept in ns)");
  CHECK(sample(text,
               "grove_request_duration_seconds_bucket{route=\"predict\",model=\"a\","
               "le=\"0.001\"}") == per_model,
        "1 ms lands in le=0.001");
  CHECK(sample(text, "grove_request_duration_seconds_bucket{route=\"predict\",le=\"0.0005\"}") == 0,
        "and not below");
  CHECK(sample(text, "grove_request_duration_seconds_count{route=\"infer\",model=\"a\"}") == 0,
        "a served model's infer series is shown at 0");
  CHECK(sample(text, "grove_rows_predicted_total{model=\"a\"}") == 3 * per_model &&
            sample(text, "grove_rows_predicted_total{model=\"b\"}") == 3 * per_model,
        "rows predicted by model");
  CHECK(sample(text, "grove_rows_predicted_total") == 3 * none, "rows of no known model");
  CHECK(sample(text, "grove_batches_total{model=\"b\"}") == per_model, "batches by model");
  CHECK(sample(text, "grove_batch_rows_sum{model=\"a\"}") == 3 * per_model, "batch rows sum");
  CHECK(sample(text, "grove_batch_rows_bucket{model=\"a\",le=\"2\"}") == 0 &&
            sample(text, "grove_batch_rows_bucket{model=\"a\",le=\"4\"}") == per_model,
        "3 rows land in le=4");
  CHECK(sample(text, "grove_batch_requests_bucket{model=\"b\",le=\"2\"}") == per_model,
        "2 requests land in le=2");
  CHECK(sample(text, "grove_queue_wait_seconds_count{model=\"a\"}") == per_model, "queue waits");
  CHECK(fabs(sample(text, "grove_queue_wait_seconds_sum{model=\"b\"}") - per_model * 0.0002) < 1e-9,
        "queue wait sum");
  CHECK(sample(text, "grove_engine_seconds_count") == none, "engine batches of no known model");
  CHECK(sample(text, "grove_inflight_requests") == 0, "inflight back to 0");
  CHECK(sample(text, "grove_queued_rows") == 0, "queued rows back to 0");
  CHECK(sample(text, "grove_rejected_total{reason=\"queue_full\"}") == n / 100, "rejections");
  CHECK(sample(text, "grove_rejected_total{reason=\"deadline\"}") == 0,
        "deadline rejections shown at 0");
  int hists;
  CHECK_EQ_INT(check_exposition(text, &hists), 0,
               "exposition well formed, buckets cumulative, +Inf == _count");
  CHECK_EQ_INT(hists, 1 + 2 * 2 + 4 * 3 + 2,
               "histogram series: predict without a model, 2 routes x 2 models, 4 batch "
               "histograms x (2 models + none), the explain histogram x 2 models (none: "
               "nothing explained without a model)");
  free(text);
  metrics_free(m);
}

static void test_render(void) {
  metrics_t *m = metrics_new();
  metrics_slot_t *inc = metrics_model_slot(m, "income");
  metrics_request_done(m, METRICS_ROUTE_INFER, 418, 0.02);
  metrics_request_done(m, (metrics_route_t)99, 404, 0.0);
  metrics_request_done(m, METRICS_ROUTE_METRICS, 200, -1.0); /* a clock step: counted as 0 */
  metrics_request_done(m, METRICS_ROUTE_HEALTH, 200, NAN);
  metrics_request_done(m, metrics_route_of_model(METRICS_ROUTE_INFER, inc), 200, 0.003);
  metrics_request_done(m, metrics_route_of_model(METRICS_ROUTE_MODELS, inc), 200, 0.003);
  metrics_batch_done(m, NULL, 0, 1, 20.0);
  metrics_batch_done(m, NULL, 1, 1024, 0.0);
  metrics_batch_done(m, NULL, 65536, 1025, 0.0);
  metrics_batch_done(m, NULL, 65537, 1, 0.0);
  metrics_batch_done(m, inc, 7, 2, 0.0001);
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
      {.name = "we\"ird\\name\nx\xff",
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
  CHECK_CONTAINS(text, "grove_requests_total{route=\"infer\",model=\"income\",code=\"200\"} 1\n",
                 "infer counted by model");
  CHECK_CONTAINS(text, "grove_requests_total{route=\"models\",code=\"200\"} 1\n",
                 "a route other than predict and infer carries no model");
  CHECK_CONTAINS(text, "grove_request_duration_seconds_bucket{route=\"infer\",le=\"0.01\"} 0\n",
                 "20 ms not <= 10 ms");
  CHECK_CONTAINS(text, "grove_request_duration_seconds_bucket{route=\"infer\",le=\"0.025\"} 1\n",
                 "20 ms <= 25 ms");
  CHECK_CONTAINS(text,
                 "grove_request_duration_seconds_bucket{route=\"infer\",model=\"income\","
                 "le=\"0.005\"} 1\n",
                 "3 ms in the model's infer histogram");
  CHECK_CONTAINS(text,
                 "grove_request_duration_seconds_bucket{route=\"metrics\",le=\"0.00005\"} 1\n",
                 "negative duration in the first bucket");
  CHECK_CONTAINS(text, "grove_request_duration_seconds_sum{route=\"health\"} 0\n",
                 "NaN duration adds 0");
  CHECK(strstr(text, "route=\"admin\"") == NULL, "routes without requests are left out");
  CHECK(strstr(text, "grove_request_duration_seconds_count{route=\"predict\"}") == NULL,
        "predict without a model left out until it counts");
  CHECK_CONTAINS(text,
                 "grove_request_duration_seconds_count{route=\"predict\",model=\"income\"} 0\n",
                 "a served model's predict series always shown");
  CHECK_CONTAINS(text, "grove_requests_total{route=\"predict\",model=\"income\",code=\"200\"} 0\n",
                 "and its 200s at 0");
  CHECK_CONTAINS(text, "grove_batch_rows_bucket{le=\"1\"} 2\n", "0 and 1 rows in le=1");
  CHECK_CONTAINS(text, "grove_batch_rows_bucket{le=\"65536\"} 3\n", "65536 rows in le=65536");
  CHECK_CONTAINS(text, "grove_batch_rows_bucket{le=\"+Inf\"} 4\n", "65537 rows in +Inf");
  CHECK_CONTAINS(text, "grove_batch_requests_bucket{le=\"1024\"} 3\n", "1024 requests in le=1024");
  CHECK_CONTAINS(text, "grove_batch_requests_bucket{le=\"+Inf\"} 4\n", "1025 requests in +Inf");
  CHECK_CONTAINS(text, "grove_engine_seconds_bucket{le=\"10\"} 3\n", "20 s engine time above 10 s");
  CHECK_CONTAINS(text, "grove_engine_seconds_sum 20\n", "engine sum");
  CHECK_CONTAINS(text, "grove_batch_rows_bucket{model=\"income\",le=\"8\"} 1\n",
                 "the model's batch in its own histogram");
  CHECK_CONTAINS(text, "grove_rows_predicted_total{model=\"income\"} 7\n", "the model's rows");
  CHECK_CONTAINS(text, "grove_rows_predicted_total 131074\n", "rows of no known model");
  CHECK_CONTAINS(text, "grove_rejected_total{reason=\"deadline\"} 1\n", "deadline");
  CHECK_CONTAINS(text, "grove_rejected_total{reason=\"other\"} 1\n", "unknown reason");
  CHECK_CONTAINS(text, "grove_inflight_requests 5\n", "inflight gauge");
  CHECK_CONTAINS(text, "grove_queued_rows 7\n", "queued rows gauge");
  CHECK_CONTAINS(
      text,
      "grove_model_info{model=\"income\",format=\"xgboost-json\",objective=\"binary:logistic\","
      "isa=\"avx2\"} 1\n",
      "model info");
  CHECK_CONTAINS(text,
                 "grove_model_info{model=\"we\\\"ird\\\\name\\nx\xEF\xBF\xBD\","
                 "format=\"xgboost-ubj\",objective=\"\",",
                 "label values escaped, a byte that is not UTF-8 replaced; NULL is empty");
  CHECK_CONTAINS(text, "grove_model_trees{model=\"we\\\"ird\\\\name\\nx\xEF\xBF\xBD\"} 1\n",
                 "escaped in every family");
  CHECK_CONTAINS(
      text,
      "grove_requests_total{route=\"predict\",model=\"we\\\"ird\\\\name\\nx\xEF\xBF\xBD\","
      "code=\"200\"} 0\n",
      "escaped in the request series of a served model without a slot yet");
  CHECK_CONTAINS(text, "grove_batch_rows_count{model=\"we\\\"ird\\\\name\\nx\xEF\xBF\xBD\"} 0\n",
                 "and in its batch histograms");
  CHECK_CONTAINS(text, "grove_model_trees{model=\"income\"} 100\n", "trees");
  CHECK_CONTAINS(text, "grove_model_features{model=\"income\"} 14\n", "features");
  CHECK_CONTAINS(text, "grove_model_loaded_timestamp_seconds{model=\"income\"} 1700000000.5\n",
                 "loaded at");
  CHECK_CONTAINS(text, "grove_model_load_seconds{model=\"income\"} 0.25\n", "load seconds");
  CHECK_CONTAINS(text, "grove_model_reloads_total{model=\"income\"} 2\n", "reloads");
  CHECK_CONTAINS(text, "grove_model_reload_failures_total{model=\"income\"} 1\n",
                 "reload failures");
  CHECK_CONTAINS(text, "# TYPE grove_model_reloads_total counter\n", "reloads is a counter");
  CHECK(strstr(text, "grove_uptime_seconds") == NULL, "no grove_uptime_seconds: process_* instead");
  CHECK_CONTAINS(text, "grove_build_info{version=\"", "build info");
  int hists;
  CHECK_EQ_INT(check_exposition(text, &hists), 0, "exposition well formed");
  CHECK_EQ_INT(hists, 5 + 2 * 2 + 5 * 2 + 3,
               "histogram series: infer, models, health, metrics, other; 2 routes x 2 models; "
               "5 batch histograms x 2 models, 3 of them with batches of no known model");
  free(text);
  metrics_free(m);
}

/* Slots: one per name, and only served models shown. */
static void test_slots(void) {
  metrics_t *m = metrics_new();
  metrics_slot_t *a = metrics_model_slot(m, "a"), *b = metrics_model_slot(m, "b");
  CHECK(a != NULL && b != NULL && a != b, "two names, two slots");
  CHECK(metrics_model_slot(m, "a") == a && metrics_model_slot(m, "b") == b,
        "a name keeps its slot");
  CHECK(metrics_route_of_model(METRICS_ROUTE_PREDICT, NULL) == METRICS_ROUTE_PREDICT &&
            metrics_route_of_model(METRICS_ROUTE_ADMIN, a) == METRICS_ROUTE_ADMIN &&
            metrics_route_of_model(METRICS_ROUTE_PREDICT, a) !=
                metrics_route_of_model(METRICS_ROUTE_PREDICT, b),
        "only prediction routes carry a slot");

  /* Many models: slots span chunks; each name keeps its own. */
  char name[32];
  int distinct = 1;
  metrics_slot_t *first = NULL;
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "m%d", i);
    metrics_slot_t *s = metrics_model_slot(m, name);
    if (i == 0) first = s;
    distinct &= s != NULL && s != a && s != b && (i == 0 || s != first);
    metrics_request_done(m, metrics_route_of_model(METRICS_ROUTE_PREDICT, s), 200, 0.001);
  }
  snprintf(name, sizeof name, "m%d", 999);
  metrics_slot_t *last = metrics_model_slot(m, name);
  CHECK(distinct && metrics_model_slot(m, "m0") == first && last != first,
        "1000 more names, 1000 more slots, each found again");
  CHECK(
      !isnan(
          metrics_request_quantile(m, metrics_route_of_model(METRICS_ROUTE_PREDICT, last), 0.5)) &&
          isnan(metrics_request_quantile(m, metrics_route_of_model(METRICS_ROUTE_PREDICT, a), 0.5)),
      "each slot has its own latency histogram");

  /* Only the served models have series, whatever slots exist. */
  metrics_model_t served[2] = {{.name = "a"}, {.name = "m999"}};
  char *text = metrics_render(m, served, 2, NULL);
  char seen[8][64];
  int nvalues = model_values(text, seen);
  CHECK_EQ_INT(nvalues, 2, "model label values: the served models only");
  CHECK(nvalues == 2 && ((strcmp(seen[0], "a") == 0 && strcmp(seen[1], "m999") == 0) ||
                         (strcmp(seen[0], "m999") == 0 && strcmp(seen[1], "a") == 0)),
        "namely a and m999");
  CHECK_CONTAINS(text, "grove_requests_total{route=\"predict\",model=\"m999\",code=\"200\"} 1\n",
                 "a served model's count");
  CHECK_EQ_INT(count_lines(text, "model=\"m1\""), 0, "a slot not served has no series");
  CHECK(sample(text, "grove_requests_total{route=\"predict\",code=\"200\"}") == -1,
        "and its requests are not moved to the series without a model");
  free(text);
  metrics_free(m);
}

static void test_quantile(void) {
  metrics_t *m = metrics_new();
  CHECK(isnan(metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 0.5)), "empty histogram: NaN");
  metrics_route_t inc =
      metrics_route_of_model(METRICS_ROUTE_PREDICT, metrics_model_slot(m, "income"));
  for (int i = 0; i < 50; i++)
    metrics_request_done(m, METRICS_ROUTE_PREDICT, 200, 0.0003);         /* (0.00025, 0.0005] */
  for (int i = 0; i < 50; i++) metrics_request_done(m, inc, 200, 0.003); /* (0.0025, 0.005] */
  double q25 = metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 0.25);
  double q50 = metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 0.5);
  double q75 = metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 0.75);
  double q100 = metrics_request_quantile(m, METRICS_ROUTE_PREDICT, 1.0);
  printf("# q25 %g q50 %g q75 %g q100 %g\n", q25, q50, q75, q100);
  CHECK(fabs(q25 - 0.000375) < 1e-12, "q25 interpolated halfway into (0.00025, 0.0005]");
  CHECK(fabs(q50 - 0.0005) < 1e-12, "q50 at the top of the first filled bucket");
  CHECK(fabs(q75 - 0.00375) < 1e-12, "q75 halfway into (0.0025, 0.005]: models summed");
  CHECK(fabs(q100 - 0.005) < 1e-12, "q100 at the top of the last filled bucket");
  CHECK(fabs(metrics_request_quantile(m, inc, 0.5) - 0.00375) < 1e-12,
        "one model's quantile from its own buckets");
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

/* A field of /proc/self/status in kB ("VmRSS:"), in bytes; -1 when absent. */
static double status_bytes(const char *field) {
  FILE *fp = fopen("/proc/self/status", "r");
  char line[256];
  double v = -1;
  while (fp != NULL && fgets(line, sizeof line, fp) != NULL)
    if (strncmp(line, field, strlen(field)) == 0) v = strtod(line + strlen(field), NULL) * 1024;
  if (fp != NULL) fclose(fp);
  return v;
}

/* Entries of /proc/self/fd but the one reading it. */
static int fds_open(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) n++;
  if (d != NULL) closedir(d);
  return n;
}

static void test_process(void) {
  metrics_t *m = metrics_new();
  /* Some resident memory of our own, so that RSS is not all shared libraries. */
  size_t big = 32u << 20;
  char *touch = malloc(big);
  if (touch != NULL) memset(touch, 1, big);
  int fds = fds_open();
  char *text = metrics_render(m, NULL, 0, NULL);
  double rss = status_bytes("VmRSS:");
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  const char *const families[][2] = {{"process_cpu_seconds_total", "counter"},
                                     {"process_open_fds", "gauge"},
                                     {"process_max_fds", "gauge"},
                                     {"process_virtual_memory_bytes", "gauge"},
                                     {"process_resident_memory_bytes", "gauge"},
                                     {"process_start_time_seconds", "gauge"}};
  int typed = 0;
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    char line[128];
    snprintf(line, sizeof line, "# TYPE %s %s\n", families[i][0], families[i][1]);
    typed += strstr(text, line) != NULL && sample(text, families[i][0]) >= 0;
  }
  CHECK_EQ_INT(typed, 6, "the six process_* families, typed as the client libraries type them");
  double got_rss = sample(text, "process_resident_memory_bytes");
  printf("# RSS %.0f, VmRSS %.0f\n", got_rss, rss);
  CHECK(rss > big && fabs(got_rss - rss) <= 0.05 * rss, "resident memory agrees with VmRSS (5%)");
  CHECK(sample(text, "process_virtual_memory_bytes") >= got_rss, "virtual memory >= resident");
  CHECK_EQ_INT(sample(text, "process_open_fds"), fds, "open fds: /proc/self/fd's entries");
  CHECK(sample(text, "process_max_fds") == (double)rl.rlim_cur, "max fds: RLIMIT_NOFILE");
  double start = sample(text, "process_start_time_seconds"), now = (double)time(NULL);
  printf("# start %.2f, now %.0f; cpu %g, rusage %g\n", start, now,
         sample(text, "process_cpu_seconds_total"), cpu);
  CHECK(start > now - 3600 && start <= now + 1, "start time: this process's, in unix seconds");
  CHECK(fabs(sample(text, "process_cpu_seconds_total") - cpu) < 0.5,
        "CPU seconds agree with getrusage (clock ticks apart)");
  int hists;
  CHECK_EQ_INT(check_exposition(text, &hists), 0, "exposition well formed without models");
  free(text);
  free(touch);
  metrics_free(m);
}

int main(void) {
  test_concurrent();
  test_render();
  test_slots();
  test_quantile();
  test_process();
  return test_done();
}
