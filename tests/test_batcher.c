/*
 * The micro-batcher: every job's outputs are grove_forest_predict's on its own rows (margins
 * and transformed outputs, binary and multi-class, single rows, split jobs, merged batches
 * from many submitting threads); done() runs once per job on a worker; a full queue refuses
 * at once; cancelled and expired jobs are skipped without touching their outputs while the
 * rest of their batch is scored; a delay still flushes; batcher_free finishes the queue.
 *
 * Determinism without timing: a "gate" job whose done() blocks holds a worker busy, so with
 * one worker the queue fills and drains exactly when the test says. The only clock bounds
 * are generous waits (WAIT_SECONDS) for work that takes milliseconds.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batcher.h"
#include "grove_engine.h"
#include "metrics.h"
#include "test.h"

#define INCOME_PATH GROVE_SOURCE_ROOT "/models/income/model.json"
#define MULTI_PATH  GROVE_SOURCE_ROOT "/tests/fixtures/multi_softprob.json"

/* How long to wait for work that takes milliseconds; only ever reached when it is lost. */
#define WAIT_SECONDS 60.0
/* What outputs hold before a job is scored: a skipped job's must still hold it. */
#define SENTINEL     (-12345.5f)
#define BIG_QUEUE    (1u << 24)

static grove_forest_t *income, *multi;
static pthread_t main_thread;

/* ---- test jobs ---- */

/* A job plus what the test knows about it. JOB comes first: done() gets &t->job. */
typedef struct {
  batch_job_t job;
  float *rows;
  float *expect; /* grove_forest_predict's outputs on ROWS */
  size_t width;  /* floats per row of output */
  pthread_t submitter;
  atomic_int calls;        /* done() calls */
  atomic_int on_submitter; /* done() ran on the submitting (or main) thread */
} tjob_t;

/* Every done() broadcasts done_cond under done_lock, so waiters see its calls count. */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;

static void on_done(batch_job_t *job) {
  tjob_t *t = (tjob_t *)job;
  pthread_t self = pthread_self();
  if (pthread_equal(self, t->submitter) || pthread_equal(self, main_thread))
    atomic_store(&t->on_submitter, 1);
  atomic_fetch_add(&t->calls, 1);
  pthread_mutex_lock(&done_lock);
  pthread_cond_broadcast(&done_cond);
  pthread_mutex_unlock(&done_lock);
}

/* Fills T with NROWS synthetic rows of F (SEED picks them), its reference outputs and an
 * output buffer full of SENTINEL. */
static void tjob_init(tjob_t *t, const grove_forest_t *f, size_t nrows, int margin, uint64_t seed) {
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  t->width = grove_forest_output_width(f, margin);
  size_t alloc_rows = nrows ? nrows : 1;
  t->rows = malloc(alloc_rows * info.num_features * sizeof(float));
  t->expect = malloc(alloc_rows * t->width * sizeof(float));
  float *out = malloc(alloc_rows * t->width * sizeof(float));
  if (t->rows == NULL || t->expect == NULL || out == NULL) {
    printf("Bail out! out of memory\n");
    exit(1);
  }
  grove_forest_synthesize_rows(f, nrows, seed, t->rows);
  grove_predict_opts_t opts = {.margin = margin, .threads = 1};
  grove_error_t err;
  if (nrows > 0 && grove_forest_predict(f, t->rows, nrows, t->expect, &opts, &err) != GROVE_OK) {
    printf("Bail out! reference prediction failed: %s\n", err.msg);
    exit(1);
  }
  for (size_t i = 0; i < alloc_rows * t->width; i++) out[i] = SENTINEL;
  t->job.forest = f;
  t->job.rows = t->rows;
  t->job.nrows = nrows;
  t->job.rows64 = NULL; /* float rows decide every value as the library does */
  t->job.inexact = NULL;
  t->job.contribs = NULL; /* predictions only (tjob_explain asks for more) */
  t->job.leaves = NULL;
  t->job.metrics_slot = NULL; /* batches counted without a model */
  t->job.margin = margin;
  t->job.out = out;
  t->job.deadline = batcher_now() + 3600;
  t->job.done = on_done;
  atomic_init(&t->job.cancelled, 0);
  t->job.skipped = 0;
  t->job.run = NULL;
  t->submitter = pthread_self();
  atomic_init(&t->calls, 0);
  atomic_init(&t->on_submitter, 0);
}

static void tjob_release(tjob_t *t) {
  free(t->rows);
  free(t->expect);
  free(t->job.out);
}

/* 1 when T's outputs are its reference outputs (to float rounding); prints the first miss. */
static int tjob_scored(const tjob_t *t) {
  for (size_t i = 0; i < t->job.nrows * t->width; i++) {
    float got = t->job.out[i], want = t->expect[i];
    if (!(fabsf(got - want) <= 1e-6f * fmaxf(1.0f, fabsf(want)))) {
      printf("# job of %zu rows (margin %d): output %zu is %.9g, expected %.9g\n", t->job.nrows,
             t->job.margin, i, (double)got, (double)want);
      return 0;
    }
  }
  return 1;
}

/* 1 when no output of T was written. */
static int tjob_untouched(const tjob_t *t) {
  for (size_t i = 0; i < t->job.nrows * t->width; i++)
    if (t->job.out[i] != SENTINEL) return 0;
  return 1;
}

static struct timespec abs_after(double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long ns = ts.tv_nsec + (long)((seconds - (double)(long)seconds) * 1e9);
  ts.tv_sec += (time_t)seconds + ns / 1000000000L;
  ts.tv_nsec = ns % 1000000000L;
  return ts;
}

/* Waits until each of the N jobs at JOBS has had done() called; 0 on timeout. */
static int wait_jobs(tjob_t *jobs, size_t n) {
  struct timespec until = abs_after(WAIT_SECONDS);
  int rc = 0;
  size_t i = 0;
  pthread_mutex_lock(&done_lock);
  while (rc != ETIMEDOUT) {
    while (i < n && atomic_load(&jobs[i].calls) > 0) i++;
    if (i == n) break;
    rc = pthread_cond_timedwait(&done_cond, &done_lock, &until);
  }
  pthread_mutex_unlock(&done_lock);
  if (i < n) printf("# gave up waiting for job %zu of %zu after %g s\n", i, n, WAIT_SECONDS);
  return i == n;
}

/* Counts of the N jobs at JOBS: done() not called exactly once, called on the submitting
 * thread, outputs wrong (not skipped), skipped. */
typedef struct {
  int bad_calls, on_submitter, wrong, skipped;
} tally_t;

static tally_t tally(const tjob_t *jobs, size_t n) {
  tally_t t = {0, 0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    if (atomic_load(&jobs[i].calls) != 1) t.bad_calls++;
    if (atomic_load(&jobs[i].on_submitter)) t.on_submitter++;
    if (jobs[i].job.skipped)
      t.skipped++;
    else if (!tjob_scored(&jobs[i]))
      t.wrong++;
  }
  return t;
}

/* ---- the gate: a job whose done() blocks, holding its worker busy ---- */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int entered, released;
  tjob_t job;
} gate = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_gate_done(batch_job_t *job) {
  on_done(job);
  pthread_mutex_lock(&gate.lock);
  gate.entered = 1;
  pthread_cond_broadcast(&gate.cond);
  while (!gate.released) pthread_cond_wait(&gate.cond, &gate.lock);
  pthread_mutex_unlock(&gate.lock);
}

/* Submits the gate job to B and waits until a worker sits in its done(); 0 on failure. */
static int gate_hold(batcher_t *b) {
  gate.entered = gate.released = 0;
  tjob_init(&gate.job, income, 1, 0, 999);
  gate.job.job.done = on_gate_done;
  if (batcher_submit(b, &gate.job.job) != BATCHER_OK) return 0;
  struct timespec until = abs_after(WAIT_SECONDS);
  int rc = 0;
  pthread_mutex_lock(&gate.lock);
  while (!gate.entered && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&gate.cond, &gate.lock, &until);
  int ok = gate.entered;
  pthread_mutex_unlock(&gate.lock);
  return ok;
}

static void gate_release(void) {
  pthread_mutex_lock(&gate.lock);
  gate.released = 1;
  pthread_cond_broadcast(&gate.cond);
  pthread_mutex_unlock(&gate.lock);
}

/* ---- metrics ---- */

/* The value of the sample whose name-and-labels part is exactly SERIES in M's text, or -1. */
static double metric(metrics_t *m, const char *series) {
  size_t len, n = strlen(series);
  char *text = metrics_render(m, NULL, 0, &len);
  double v = -1;
  for (const char *line = text; line != NULL && *line;) {
    const char *eol = strchr(line, '\n');
    if (eol == NULL) eol = line + strlen(line);
    if ((size_t)(eol - line) > n && strncmp(line, series, n) == 0 && line[n] == ' ') {
      v = strtod(line + n + 1, NULL);
      break;
    }
    line = *eol ? eol + 1 : eol;
  }
  free(text);
  return v;
}

/* ---- tests ---- */

/* Single-row jobs of both models, margins and outputs, one at a time and in bursts. */
static void test_single_rows(int spin) {
  enum { N = 200, ONE_BY_ONE = 20 };
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(2, 64, 0, BIG_QUEUE, spin, m);
  CHECK(b != NULL,
        spin ? "single rows (spinning workers): batcher_new" : "single rows: batcher_new");
  tjob_t *jobs = calloc(N, sizeof *jobs);
  int refused = 0;
  for (int i = 0; i < N; i++) {
    tjob_init(&jobs[i], i % 2 ? multi : income, 1, (i / 2) % 2, (uint64_t)i + 1);
    if (batcher_submit(b, &jobs[i].job) != BATCHER_OK) refused++;
    if (i < ONE_BY_ONE) wait_jobs(&jobs[i], 1);
  }
  CHECK_EQ_INT(refused, 0, "single rows: every submit accepted");
  CHECK(wait_jobs(jobs, N), "single rows: every job finished");
  CHECK_EQ_INT(metric(m, "grove_rows_predicted_total"), N,
               "single rows: grove_rows_predicted_total counts them");
  CHECK_EQ_INT(metric(m, "grove_queued_rows"), 0, "single rows: queued rows gauge back to 0");
  batcher_free(b);
  tally_t t = tally(jobs, N);
  CHECK_EQ_INT(t.bad_calls, 0, "single rows: done() called exactly once per job");
  CHECK_EQ_INT(t.on_submitter, 0, "single rows: done() called on a worker thread");
  CHECK_EQ_INT(t.skipped, 0, "single rows: none skipped");
  CHECK_EQ_INT(t.wrong, 0,
               "single rows: outputs equal grove_forest_predict (margins and outputs, 2 models)");
  CHECK_EQ_INT(jobs[1].width, 3, "multi-class outputs are 3 probabilities a row");
  for (int i = 0; i < N; i++) tjob_release(&jobs[i]);
  free(jobs);
  metrics_free(m);
}

/* Jobs larger than a batch: split into max_batch_rows chunks that four workers score. */
static void test_split(void) {
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(4, 512, 0, BIG_QUEUE, 0, m);
  CHECK(b != NULL, "split: batcher_new");
  static const struct {
    int multi, margin;
    size_t rows;
    int batches; /* chunks of at most 512 rows that cannot merge: one batch each */
  } cases[] = {{0, 0, 5000, 10}, {0, 1, 5000, 10}, {1, 0, 3001, 6}, {1, 1, 2049, 5}};
  double batches_before = 0, rows_before = 0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    tjob_t j = {0};
    tjob_init(&j, cases[c].multi ? multi : income, cases[c].rows, cases[c].margin, 100 + c);
    CHECK_EQ_INT(batcher_submit(b, &j.job), BATCHER_OK, "split: submit accepted");
    CHECK(wait_jobs(&j, 1), "split: job finished");
    CHECK(tjob_scored(&j) && !j.job.skipped, "split: every chunk's outputs land at its rows");
    double batches = metric(m, "grove_batches_total"),
           rows = metric(m, "grove_rows_predicted_total");
    printf("# %zu rows (%s, margin %d): %g batches\n", cases[c].rows,
           cases[c].multi ? "multi" : "income", cases[c].margin, batches - batches_before);
    CHECK_EQ_INT(batches - batches_before, cases[c].batches,
                 "split: one batch per max_batch_rows chunk");
    CHECK_EQ_INT(rows - rows_before, cases[c].rows, "split: every row predicted once");
    batches_before = batches;
    rows_before = rows;
    /* wait_jobs returned after done(); the job's last chunk is finished, so calls is final. */
    CHECK_EQ_INT(atomic_load(&j.calls), 1, "split: done() once for all chunks");
    CHECK(!atomic_load(&j.on_submitter), "split: done() on a worker");
    tjob_release(&j);
  }
  CHECK_EQ_INT(metric(m, "grove_batch_rows_bucket{le=\"512\"}"), metric(m, "grove_batches_total"),
               "split: no batch holds more than max_batch_rows");

  /* Below max_batch_rows, a job still splits over the workers (no finer than 256 rows). */
  tjob_t j = {0};
  tjob_init(&j, income, 2000, 0, 77);
  batcher_t *b2 = batcher_new(4, 4096, 0, BIG_QUEUE, 0, m);
  CHECK_EQ_INT(batcher_submit(b2, &j.job), BATCHER_OK, "split over workers: submit");
  CHECK(wait_jobs(&j, 1), "split over workers: finished");
  batcher_free(b2);
  CHECK(tjob_scored(&j) && !j.job.skipped,
        "split over workers: outputs equal grove_forest_predict");
  CHECK_EQ_INT(atomic_load(&j.calls), 1, "split over workers: done() once");
  tjob_release(&j);
  batcher_free(b);
  metrics_free(m);
}

/* Submitting threads for the merge tests. */
typedef struct {
  batcher_t *b;
  tjob_t *jobs;
  int n, first_seed, refused;
  atomic_int *submitted; /* bumped after each accepted submit */
  int wait;              /* wait for the jobs in the thread itself */
} submitter_t;

static void *submit_thread(void *arg) {
  submitter_t *s = arg;
  for (int i = 0; i < s->n; i++) {
    int k = s->first_seed + i;
    tjob_init(&s->jobs[i], k % 2 ? multi : income, 1 + (size_t)(k % 7), (k / 2) % 2,
              (uint64_t)k * 7919);
    if (batcher_submit(s->b, &s->jobs[i].job) != BATCHER_OK) s->refused++;
    if (s->submitted) atomic_fetch_add(s->submitted, 1);
  }
  if (s->wait) wait_jobs(s->jobs, (size_t)s->n);
  return NULL;
}

/*
 * Eight threads queue 48 jobs of two models (and margins and outputs mixed) while the one
 * worker is held: released, it must score them in exactly two batches, one per model,
 * and hand every job its own rows' scores.
 */
static void test_merge_deterministic(void) {
  enum { THREADS = 8, PER = 6 };
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(1, 4096, 0, BIG_QUEUE, 0, m);
  CHECK(gate_hold(b), "merge: the worker is held");
  tjob_t *jobs = calloc(THREADS * PER, sizeof *jobs);
  submitter_t subs[THREADS];
  pthread_t tids[THREADS];
  atomic_int submitted;
  atomic_init(&submitted, 0);
  size_t rows = 0;
  for (int i = 0; i < THREADS; i++) {
    subs[i] = (submitter_t){
        .b = b, .jobs = jobs + i * PER, .n = PER, .first_seed = i * PER, .submitted = &submitted};
    pthread_create(&tids[i], NULL, submit_thread, &subs[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(tids[i], NULL);
  int refused = 0;
  for (int i = 0; i < THREADS; i++) refused += subs[i].refused;
  for (int i = 0; i < THREADS * PER; i++) rows += jobs[i].job.nrows;
  CHECK_EQ_INT(refused, 0, "merge: every submit accepted");
  CHECK_EQ_INT(atomic_load(&submitted), THREADS * PER,
               "merge: all submitted while the worker is held");
  CHECK_EQ_INT(metric(m, "grove_queued_rows"), rows, "merge: queued rows gauge holds them all");
  gate_release();
  CHECK(wait_jobs(jobs, THREADS * PER), "merge: every job finished");
  batcher_free(b);
  tally_t t = tally(jobs, THREADS * PER);
  CHECK_EQ_INT(t.bad_calls, 0, "merge: done() exactly once per job");
  CHECK_EQ_INT(t.on_submitter, 0, "merge: done() on the worker, not a submitter");
  CHECK_EQ_INT(t.skipped, 0, "merge: none skipped");
  CHECK_EQ_INT(t.wrong, 0, "merge: each job got its own rows' scores out of the shared batch");
  CHECK_EQ_INT(metric(m, "grove_batches_total"), 1 + 2,
               "merge: the gate's batch plus one batch per model");
  CHECK_EQ_INT(metric(m, "grove_batch_requests_bucket{le=\"16\"}"), 1,
               "merge: only the gate's batch has fewer than 17 requests");
  CHECK_EQ_INT(metric(m, "grove_batch_requests_bucket{le=\"32\"}"), 3,
               "merge: the two others hold 24 each");
  CHECK_EQ_INT(metric(m, "grove_rows_predicted_total"), 1 + rows, "merge: rows predicted");
  for (int i = 0; i < THREADS * PER; i++) tjob_release(&jobs[i]);
  free(jobs);
  tjob_release(&gate.job);
  metrics_free(m);
}

/* Free-running: eight threads, two (spinning) workers, small batches. */
static void test_concurrent(void) {
  enum { THREADS = 8, PER = 150 };
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(2, 32, 0, BIG_QUEUE, 1, m);
  tjob_t *jobs = calloc(THREADS * PER, sizeof *jobs);
  submitter_t subs[THREADS];
  pthread_t tids[THREADS];
  for (int i = 0; i < THREADS; i++) {
    subs[i] = (submitter_t){
        .b = b, .jobs = jobs + i * PER, .n = PER, .first_seed = 1000 + i * PER, .wait = 1};
    pthread_create(&tids[i], NULL, submit_thread, &subs[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(tids[i], NULL);
  int refused = 0;
  size_t rows = 0;
  for (int i = 0; i < THREADS; i++) refused += subs[i].refused;
  for (int i = 0; i < THREADS * PER; i++) rows += jobs[i].job.nrows;
  CHECK_EQ_INT(refused, 0, "concurrent: every submit accepted");
  CHECK(wait_jobs(jobs, THREADS * PER), "concurrent: every job finished");
  batcher_free(b);
  tally_t t = tally(jobs, THREADS * PER);
  CHECK_EQ_INT(t.bad_calls, 0, "concurrent: done() exactly once per job");
  CHECK_EQ_INT(t.on_submitter, 0, "concurrent: done() on a worker thread");
  CHECK_EQ_INT(t.skipped, 0, "concurrent: none skipped");
  CHECK_EQ_INT(t.wrong, 0, "concurrent: every job's outputs are its own rows' scores");
  CHECK_EQ_INT(metric(m, "grove_rows_predicted_total"), rows,
               "concurrent: grove_rows_predicted_total");
  double batches = metric(m, "grove_batches_total");
  printf("# %d jobs in %g batches\n", THREADS * PER, batches);
  CHECK(batches >= (double)rows / 32 && batches <= THREADS * PER,
        "concurrent: batches within [rows/32, jobs]");
  for (int i = 0; i < THREADS * PER; i++) tjob_release(&jobs[i]);
  free(jobs);
  metrics_free(m);
}

/* max_queue_rows: held worker, queue filled exactly to the limit, then one row more. */
static void test_queue_full(void) {
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(1, 4096, 0, 100, 0, m);
  CHECK(gate_hold(b), "queue full: the worker is held");
  tjob_t j[5]; /* tjob_init sets every field */
  tjob_init(&j[0], income, 60, 0, 1);
  tjob_init(&j[1], multi, 40, 1, 2);
  tjob_init(&j[2], income, 1, 0, 3);
  tjob_init(&j[3], income, 101, 0, 4);
  tjob_init(&j[4], income, 100, 1, 5);
  /* Waits only for accepted jobs: a refused one never gets done(). */
  batcher_status_t rc0 = batcher_submit(b, &j[0].job), rc1 = batcher_submit(b, &j[1].job);
  CHECK_EQ_INT(rc0, BATCHER_OK, "queue full: 60 of 100 rows accepted");
  CHECK_EQ_INT(rc1, BATCHER_OK, "queue full: 40 more, exactly 100, accepted");
  CHECK_EQ_INT(metric(m, "grove_queued_rows"), 100, "queue full: gauge at 100");
  batcher_status_t rc2 = batcher_submit(b, &j[2].job);
  CHECK_EQ_INT(rc2, BATCHER_EFULL, "queue full: one row more is BATCHER_EFULL");
  CHECK_EQ_INT(metric(m, "grove_queued_rows"), 100, "queue full: a refused job does not count");
  gate_release();
  CHECK(rc0 == BATCHER_OK && rc1 == BATCHER_OK && wait_jobs(j, 2),
        "queue full: accepted jobs finish");
  if (rc2 == BATCHER_OK)
    wait_jobs(&j[2], 1); /* wrongly accepted: let it finish before reusing it */
  CHECK_EQ_INT(batcher_submit(b, &j[3].job), BATCHER_EFULL,
               "queue full: 101 rows never fit a 100-row queue");
  batcher_status_t rc4 = batcher_submit(b, &j[4].job);
  CHECK_EQ_INT(rc4, BATCHER_OK, "queue full: 100 rows on an empty queue fit");
  CHECK(rc4 == BATCHER_OK && wait_jobs(&j[4], 1), "queue full: it finishes");
  atomic_store(&j[2].calls, 0);
  rc2 = batcher_submit(b, &j[2].job);
  CHECK_EQ_INT(rc2, BATCHER_OK, "queue full: the refused job can be submitted again");
  CHECK(rc2 == BATCHER_OK && wait_jobs(&j[2], 1), "queue full: and finishes");
  batcher_free(b);
  CHECK(tjob_scored(&j[0]) && tjob_scored(&j[1]) && tjob_scored(&j[2]) && tjob_scored(&j[4]),
        "queue full: accepted jobs scored");
  CHECK_EQ_INT(atomic_load(&j[3].calls), 0, "queue full: no done() for a refused job");
  CHECK(tjob_untouched(&j[3]), "queue full: a refused job's outputs untouched");
  CHECK(atomic_load(&j[0].calls) == 1 && atomic_load(&j[1].calls) == 1 &&
            atomic_load(&j[2].calls) == 1 && atomic_load(&j[4].calls) == 1,
        "queue full: done() once for each accepted job (once for the resubmitted one)");
  CHECK_EQ_INT(metric(m, "grove_rows_predicted_total"), 1 + 60 + 40 + 100 + 1,
               "queue full: rows predicted");
  for (int i = 0; i < 5; i++) tjob_release(&j[i]);
  tjob_release(&gate.job);
  metrics_free(m);
}

/* Cancelled and expired jobs in one batch with live ones: skipped, outputs untouched. */
static void test_cancel_deadline(void) {
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(1, 4096, 0, BIG_QUEUE, 0, m);
  CHECK(gate_hold(b), "cancel: the worker is held");
  enum { A, CANCELLED, EXPIRED, D, E, N };
  tjob_t j[N]; /* tjob_init sets every field */
  tjob_init(&j[A], income, 5, 0, 11);
  tjob_init(&j[CANCELLED], income, 7, 0, 12);
  tjob_init(&j[EXPIRED], income, 3, 1, 13);
  tjob_init(&j[D], income, 4, 1, 14);
  tjob_init(&j[E], income, 600, 0, 15);
  double past = batcher_now() - 1.0;
  j[EXPIRED].job.deadline = past > 0 ? past : 1e-9;
  int ok = 1;
  for (int i = 0; i < N; i++) ok &= batcher_submit(b, &j[i].job) == BATCHER_OK;
  CHECK(ok, "cancel: all submitted");
  atomic_store(&j[CANCELLED].job.cancelled, 1); /* after submit, before its chunk starts */
  gate_release();
  CHECK(wait_jobs(j, N), "cancel: every job's done() called");
  batcher_free(b);
  CHECK(j[CANCELLED].job.skipped == 1, "cancel: cancelled job skipped = 1");
  CHECK(tjob_untouched(&j[CANCELLED]), "cancel: cancelled job's outputs untouched");
  CHECK(j[EXPIRED].job.skipped == 1, "deadline: expired job skipped = 1");
  CHECK(tjob_untouched(&j[EXPIRED]), "deadline: expired job's outputs untouched");
  CHECK(!j[A].job.skipped && !j[D].job.skipped && !j[E].job.skipped,
        "cancel: the others in the batch not skipped");
  CHECK(tjob_scored(&j[A]) && tjob_scored(&j[D]) && tjob_scored(&j[E]),
        "cancel: the others in the batch scored");
  int once = 1;
  for (int i = 0; i < N; i++)
    once &= atomic_load(&j[i].calls) == 1 && !atomic_load(&j[i].on_submitter);
  CHECK(once, "cancel: done() exactly once each, on the worker");
  CHECK_EQ_INT(metric(m, "grove_batches_total"), 2,
               "cancel: the gate's batch and one shared batch");
  CHECK_EQ_INT(metric(m, "grove_rows_predicted_total"), 1 + 5 + 4 + 600,
               "cancel: skipped rows not predicted");
  for (int i = 0; i < N; i++) tjob_release(&j[i]);
  tjob_release(&gate.job);

  /* A cancelled job of four chunks: every chunk skipped, done() still once. */
  b = batcher_new(1, 256, 0, BIG_QUEUE, 0, m);
  CHECK(gate_hold(b), "cancel chunks: the worker is held");
  tjob_t big = {0}, other = {0};
  tjob_init(&big, income, 1000, 0, 21);
  tjob_init(&other, multi, 10, 0, 22);
  CHECK(batcher_submit(b, &big.job) == BATCHER_OK && batcher_submit(b, &other.job) == BATCHER_OK,
        "cancel chunks: submitted");
  atomic_store(&big.job.cancelled, 1);
  gate_release();
  CHECK(wait_jobs(&big, 1) && wait_jobs(&other, 1), "cancel chunks: both finished");
  batcher_free(b);
  CHECK(big.job.skipped == 1 && tjob_untouched(&big),
        "cancel chunks: all four chunks skipped, untouched");
  CHECK_EQ_INT(atomic_load(&big.calls), 1, "cancel chunks: done() once, after the last chunk");
  CHECK(!other.job.skipped && tjob_scored(&other), "cancel chunks: the job behind it scored");
  CHECK_EQ_INT(metric(m, "grove_rows_predicted_total"), 610 + 1 + 10,
               "cancel chunks: rows predicted");
  tjob_release(&big);
  tjob_release(&other);
  tjob_release(&gate.job);
  metrics_free(m);
}

/* max_delay_us > 0: a lone job still flushes; jobs that fill a batch flush at once, together. */
static void test_delay(void) {
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(1, 8, 2000, BIG_QUEUE, 0, m);
  tjob_t lone = {0};
  tjob_init(&lone, multi, 1, 0, 31);
  CHECK_EQ_INT(batcher_submit(b, &lone.job), BATCHER_OK, "delay: submit");
  CHECK(wait_jobs(&lone, 1), "delay 2 ms: a lone row is flushed when its delay is up");
  batcher_free(b);
  CHECK(tjob_scored(&lone) && atomic_load(&lone.calls) == 1, "delay: scored, done() once");
  tjob_release(&lone);
  metrics_free(m);

  /* A 30 s delay: the batch is held open (so the two jobs merge) until it is full. */
  m = metrics_new();
  b = batcher_new(2, 8, 30000000, BIG_QUEUE, 0, m);
  tjob_t j[3]; /* tjob_init sets every field */
  tjob_init(&j[0], income, 3, 0, 32);
  tjob_init(&j[1], income, 5, 1, 33);
  tjob_init(&j[2], income, 2, 0, 34);
  CHECK_EQ_INT(batcher_submit(b, &j[0].job), BATCHER_OK, "delay 30 s: 3 rows queued");
  CHECK_EQ_INT(batcher_submit(b, &j[1].job), BATCHER_OK, "delay 30 s: 5 rows fill the 8-row batch");
  CHECK(wait_jobs(j, 2), "delay 30 s: a full batch does not wait for the delay");
  CHECK_EQ_INT(metric(m, "grove_batches_total"), 1, "delay: the held-open batch took both jobs");
  CHECK_EQ_INT(metric(m, "grove_batch_requests_bucket{le=\"1\"}"), 0,
               "delay: no single-request batch");
  CHECK(tjob_scored(&j[0]) && tjob_scored(&j[1]), "delay: both scored");
  /* A partial batch is still held for 30 s; batcher_free must flush it, not wait. */
  CHECK_EQ_INT(batcher_submit(b, &j[2].job), BATCHER_OK, "delay 30 s: 2 rows queued");
  batcher_free(b);
  CHECK_EQ_INT(atomic_load(&j[2].calls), 1, "delay: batcher_free flushes a batch held open");
  CHECK(!j[2].job.skipped && tjob_scored(&j[2]), "delay: and scores it");
  for (int i = 0; i < 3; i++) tjob_release(&j[i]);
  metrics_free(m);
}

static void *free_thread(void *arg) {
  batcher_free(arg);
  return NULL;
}

/*
 * batcher_free with work queued behind a held worker: the free starts (seen as submits
 * being refused), then the worker is let go; when batcher_free returns, every accepted
 * job has had done() called, live ones scored and cancelled ones skipped.
 */
static void test_free_with_queue(void) {
  enum { N = 30, MAX_PROBES = 4096 };
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(1, 16, 0, BIG_QUEUE, 0, m);
  CHECK(gate_hold(b), "free: the worker is held");
  tjob_t *jobs = calloc(N + MAX_PROBES, sizeof *jobs);
  int accepted = 0;
  for (int i = 0; i < N; i++) {
    tjob_init(&jobs[i], i % 3 ? income : multi, 1 + (size_t)(i % 5), i % 2, 300 + (uint64_t)i);
    accepted += batcher_submit(b, &jobs[i].job) == BATCHER_OK;
    if (i % 5 == 4) atomic_store(&jobs[i].job.cancelled, 1);
  }
  CHECK_EQ_INT(accepted, N, "free: queued behind the held worker");
  pthread_t tid;
  pthread_create(&tid, NULL, free_thread, b);
  /* Until batcher_free marks the batcher stopping, submits succeed; those probes are
   * queued work too. A refused submit means the free has started. */
  int probes = 0, refused = 0;
  while (probes < MAX_PROBES) {
    tjob_t *p = &jobs[N + probes];
    tjob_init(p, income, 1, 0, 5000 + (uint64_t)probes);
    if (batcher_submit(b, &p->job) != BATCHER_OK) {
      refused = 1;
      tjob_release(p);
      break;
    }
    probes++;
    nanosleep(&(struct timespec){0, 200000}, NULL);
  }
  printf("# %d probe jobs queued before batcher_free refused submits\n", probes);
  CHECK(refused, "free: submit refused (BATCHER_EFULL) once batcher_free has begun");
  gate_release();
  pthread_join(tid, NULL);
  int total = N + probes, bad_calls = 0, wrong = 0, cancelled_bad = 0, on_submitter = 0;
  for (int i = 0; i < total; i++) {
    if (atomic_load(&jobs[i].calls) != 1) bad_calls++;
    if (atomic_load(&jobs[i].on_submitter)) on_submitter++;
    if (i < N && i % 5 == 4) {
      cancelled_bad += !(jobs[i].job.skipped && tjob_untouched(&jobs[i]));
    } else if (jobs[i].job.skipped || !tjob_scored(&jobs[i])) {
      wrong++;
    }
  }
  CHECK_EQ_INT(bad_calls, 0,
               "free: when batcher_free returns, done() was called once for every job");
  CHECK_EQ_INT(on_submitter, 0, "free: done() on the worker");
  CHECK_EQ_INT(wrong, 0, "free: queued work finished (scored) by batcher_free");
  CHECK_EQ_INT(cancelled_bad, 0, "free: cancelled queued jobs skipped, outputs untouched");
  for (int i = 0; i < total; i++) tjob_release(&jobs[i]);
  free(jobs);
  tjob_release(&gate.job);
  metrics_free(m);
}

/*
 * Zero workers: nothing drains, so the queue limit is exact. batcher_free must still call
 * every queued job's done() ("finishes the queued work").
 */
static void test_zero_workers(void) {
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(0, 16, 0, 10, 0, m);
  CHECK(b != NULL, "zero workers: batcher_new");
  tjob_t j[3]; /* tjob_init sets every field */
  tjob_init(&j[0], income, 6, 0, 41);
  tjob_init(&j[1], income, 4, 0, 42);
  tjob_init(&j[2], income, 1, 0, 43);
  CHECK_EQ_INT(batcher_submit(b, &j[0].job), BATCHER_OK, "zero workers: 6 of 10 rows");
  CHECK_EQ_INT(batcher_submit(b, &j[1].job), BATCHER_OK, "zero workers: 4 more, exactly 10");
  CHECK_EQ_INT(batcher_submit(b, &j[2].job), BATCHER_EFULL,
               "zero workers: the 11th row is refused");
  CHECK_EQ_INT(metric(m, "grove_queued_rows"), 10, "zero workers: 10 rows queued");
  batcher_free(b);
  int c0 = atomic_load(&j[0].calls), c1 = atomic_load(&j[1].calls);
  CHECK(c0 == 1 && c1 == 1, "zero workers: batcher_free calls done() for the queued jobs");
  CHECK(tjob_untouched(&j[2]) && atomic_load(&j[2].calls) == 0,
        "zero workers: refused job untouched");
  /* If done() was not called the batcher leaked the job's bookkeeping (one allocation);
   * free it here so that LeakSanitizer reports only new problems. */
  for (int i = 0; i < 2; i++)
    if (atomic_load(&j[i].calls) == 0) free(j[i].job.run);
  for (int i = 0; i < 3; i++) tjob_release(&j[i]);
  metrics_free(m);
}

/*
 * A job of zero rows is accepted (batcher_submit gives it one empty chunk), so its done()
 * must come like any other's. One worker runs the queue in order: once the job queued
 * after it (another model, so never merged with it) is done, its turn has passed.
 */
static void test_zero_rows(void) {
  batcher_t *b = batcher_new(1, 64, 0, BIG_QUEUE, 0, NULL);
  tjob_t empty = {0}, after = {0};
  tjob_init(&empty, income, 0, 0, 51);
  tjob_init(&after, multi, 1, 0, 52);
  CHECK_EQ_INT(batcher_submit(b, &empty.job), BATCHER_OK, "zero rows: accepted");
  CHECK_EQ_INT(batcher_submit(b, &after.job), BATCHER_OK, "zero rows: a job behind it");
  CHECK(wait_jobs(&after, 1) && tjob_scored(&after),
        "zero rows: the job behind it scored (no metrics)");
  int calls = atomic_load(&empty.calls);
  CHECK_EQ_INT(calls, 1, "zero rows: done() called for a zero-row job");
  batcher_free(b);
  if (atomic_load(&empty.calls) == 0) free(empty.job.run); /* leaked by the batcher: see above */
  tjob_release(&empty);
  tjob_release(&after);
}

static grove_forest_t *load(const char *path) {
  grove_forest_t *f = NULL;
  grove_error_t err;
  if (grove_forest_load_file(path, &f, &err) != GROVE_OK) {
    printf("Bail out! %s\n", err.msg);
    exit(1);
  }
  return f;
}

/* ---- explanations ---- */

/* T also asks for contributions (CONTRIBS) and / or leaves (LEAVES); *WANT_C and *WANT_L get
 * what the engine gives for its rows alone (the caller frees them). */
static void tjob_explain(tjob_t *t, int contribs, int leaves, double **want_c, uint32_t **want_l) {
  const grove_forest_t *f = t->job.forest;
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const size_t n = t->job.nrows ? t->job.nrows : 1, w = grove_forest_contribs_width(f);
  grove_error_t err;
  *want_c = NULL;
  *want_l = NULL;
  if (contribs) {
    t->job.contribs = malloc(n * w * sizeof(double));
    *want_c = malloc(n * w * sizeof(double));
    if (t->job.contribs == NULL || *want_c == NULL ||
        grove_forest_contribs(f, t->rows, t->job.nrows, *want_c, &err) != GROVE_OK) {
      printf("Bail out! reference contributions\n");
      exit(1);
    }
    for (size_t i = 0; i < n * w; i++) t->job.contribs[i] = -777.0;
  }
  if (leaves) {
    t->job.leaves = malloc(n * info.num_trees * sizeof(uint32_t));
    *want_l = malloc(n * info.num_trees * sizeof(uint32_t));
    if (t->job.leaves == NULL || *want_l == NULL ||
        grove_forest_leaves(f, t->rows, t->job.nrows, *want_l, &err) != GROVE_OK) {
      printf("Bail out! reference leaves\n");
      exit(1);
    }
    memset(t->job.leaves, 0xff, n * info.num_trees * sizeof(uint32_t));
  }
}

/* 1 when T's explanations are WANT_C / WANT_L (NULL: not asked): the batch a job shared
 * changes nothing of a row's values. */
static int tjob_explained(const tjob_t *t, const double *want_c, const uint32_t *want_l) {
  grove_forest_info_t info;
  grove_forest_get_info(t->job.forest, &info);
  const size_t w = grove_forest_contribs_width(t->job.forest);
  for (size_t i = 0; want_c != NULL && i < t->job.nrows * w; i++)
    if (t->job.contribs[i] != want_c[i]) {
      printf("# contribution %zu: %.17g, alone %.17g\n", i, t->job.contribs[i], want_c[i]);
      return 0;
    }
  for (size_t i = 0; want_l != NULL && i < t->job.nrows * info.num_trees; i++)
    if (t->job.leaves[i] != want_l[i]) {
      printf("# leaf %zu: %u, alone %u\n", i, t->job.leaves[i], want_l[i]);
      return 0;
    }
  return 1;
}

/*
 * Explained jobs queued together share one engine call (one explain batch) and get what
 * each would get alone; plain predictions queued with them are batched apart; explain
 * batches hold max_batch_rows / BATCHER_EXPLAIN_COST rows at most, so a large explained
 * request is split finer than a prediction.
 */
static void test_explain(void) {
  enum { NEXPLAIN = 8, NPLAIN = 4, CAP = 10 * BATCHER_EXPLAIN_COST }; /* explain batches: 10 rows */
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(1, CAP, 0, BIG_QUEUE, 0, m);
  CHECK(b != NULL && gate_hold(b), "explain: the one worker is held");
  tjob_t jobs[NEXPLAIN + NPLAIN];
  double *want_c[NEXPLAIN + NPLAIN];
  uint32_t *want_l[NEXPLAIN + NPLAIN];
  int refused = 0;
  for (int i = 0; i < NEXPLAIN + NPLAIN; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    /* income's explained jobs ask for both, multi's for contributions alone: 2 kinds */
    const grove_forest_t *f = i < NEXPLAIN / 2 ? income : i < NEXPLAIN ? multi : income;
    tjob_init(&jobs[i], f, 1 + (size_t)(i % 3), i % 2, 500 + (uint64_t)i);
    if (i < NEXPLAIN)
      tjob_explain(&jobs[i], 1, f == income, &want_c[i], &want_l[i]);
    else
      want_c[i] = NULL, want_l[i] = NULL;
    refused += batcher_submit(b, &jobs[i].job) != BATCHER_OK;
  }
  gate_release();
  CHECK_EQ_INT(refused, 0, "explain: every submit accepted");
  CHECK(wait_jobs(jobs, NEXPLAIN + NPLAIN), "explain: every job finished");
  tally_t t = tally(jobs, NEXPLAIN + NPLAIN);
  CHECK(t.bad_calls == 0 && t.skipped == 0 && t.wrong == 0,
        "explain: predictions of explained and plain jobs equal grove_forest_predict");
  int wrong = 0;
  for (int i = 0; i < NEXPLAIN; i++) wrong += !tjob_explained(&jobs[i], want_c[i], want_l[i]);
  CHECK_EQ_INT(wrong, 0, "explain: contributions and leaves equal the engine's on each job alone");
  CHECK_EQ_INT(metric(m, "grove_explain_requests_total"), NEXPLAIN,
               "explain: grove_explain_requests_total counts the explained jobs");
  double rows = 0;
  for (int i = 0; i < NEXPLAIN; i++) rows += (double)jobs[i].job.nrows;
  CHECK_EQ_INT(metric(m, "grove_explain_rows_total"), rows,
               "explain: grove_explain_rows_total counts their rows");
  CHECK_EQ_INT(metric(m, "grove_explain_engine_seconds_count"), 2,
               "explain: the queued explained jobs share one engine call per model and kind");
  CHECK_EQ_INT(metric(m, "grove_batches_total"), 4,
               "explain: batches: the gate, the plain jobs, and the 2 explained");

  /* A large explained job: batches of CAP / BATCHER_EXPLAIN_COST rows. */
  tjob_t big;
  memset(&big, 0, sizeof big);
  double *big_c;
  uint32_t *big_l;
  tjob_init(&big, multi, 95, 1, 4242);
  tjob_explain(&big, 1, 1, &big_c, &big_l);
  double before = metric(m, "grove_explain_engine_seconds_count");
  CHECK_EQ_INT(batcher_submit(b, &big.job), BATCHER_OK, "explain, large: submitted");
  CHECK(wait_jobs(&big, 1) && !big.job.skipped && tjob_scored(&big), "explain, large: scored");
  CHECK(tjob_explained(&big, big_c, big_l), "explain, large: every chunk's explanations in place");
  CHECK_EQ_INT(metric(m, "grove_explain_engine_seconds_count") - before,
               (95 + CAP / BATCHER_EXPLAIN_COST - 1) / (CAP / BATCHER_EXPLAIN_COST),
               "explain, large: one batch per max_batch_rows / BATCHER_EXPLAIN_COST rows");
  batcher_free(b);
  for (int i = 0; i < NEXPLAIN + NPLAIN; i++) {
    free(jobs[i].job.contribs);
    free(jobs[i].job.leaves);
    free(want_c[i]);
    free(want_l[i]);
    tjob_release(&jobs[i]);
  }
  free(big.job.contribs);
  free(big.job.leaves);
  free(big_c);
  free(big_l);
  tjob_release(&big);
  tjob_release(&gate.job);
  metrics_free(m);
}

/* The test thread's buffers for inline scoring, as an I/O thread keeps them. */
static batcher_inline_t inline_scratch;

/* Tries batcher_score_inline on JOB until it takes it (the worker may not be waiting yet). */
static int inline_taken(batcher_t *b, tjob_t *t) {
  for (int i = 0; i < 2000; i++) {
    if (batcher_score_inline(b, &t->job, &inline_scratch)) return 1;
    nanosleep(&(struct timespec){0, 500000}, NULL);
  }
  return 0;
}

/* Inline scoring: only a few rows, an empty queue, an idle worker, no batching delay, no
 * explanations, deadline not passed; the outputs and the batch metrics are those of a
 * worker's batch, and done() is not called. */
static void test_inline(void) {
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(1, 64, 0, BIG_QUEUE, 0, m);
  tjob_t one, three, five;
  tjob_init(&one, income, 1, 0, 61);
  tjob_init(&three, multi, 3, 1, 62);
  tjob_init(&five, income, 5, 0, 63);
  CHECK(inline_taken(b, &one) && !one.job.skipped && tjob_scored(&one),
        "inline: one income row scored on the caller, outputs equal grove_forest_predict");
  /* Declined with the worker idle (three is taken right after): for what they ask, not load. */
  tjob_t explained, late;
  memset(&explained, 0, sizeof explained);
  double *want_c;
  uint32_t *want_l;
  tjob_init(&explained, income, 1, 0, 65);
  tjob_explain(&explained, 1, 1, &want_c, &want_l);
  CHECK(!batcher_score_inline(b, &explained.job, &inline_scratch) && tjob_untouched(&explained),
        "inline: contributions and leaves are left to the workers");
  tjob_init(&late, income, 1, 0, 66);
  late.job.deadline = batcher_now() - 1;
  CHECK(!batcher_score_inline(b, &late.job, &inline_scratch) && tjob_untouched(&late),
        "inline: a job past its deadline is left to the workers (which skip it)");
  CHECK(batcher_score_inline(b, &three.job, &inline_scratch) && !three.job.skipped &&
            tjob_scored(&three),
        "inline: three multi-class rows (margins) scored on the caller");
  CHECK(atomic_load(&one.calls) == 0 && atomic_load(&three.calls) == 0,
        "inline: done() is not called");
  CHECK_EQ_INT(metric(m, "grove_rows_predicted_total"), 4, "inline: rows counted");
  CHECK_EQ_INT(metric(m, "grove_queued_rows"), 0, "inline: nothing queued");
  CHECK(batcher_submit(b, &explained.job) == BATCHER_OK && wait_jobs(&explained, 1) &&
            !explained.job.skipped && tjob_scored(&explained) &&
            tjob_explained(&explained, want_c, want_l),
        "inline: the declined explained job, submitted, is scored and explained by the worker");
  CHECK_EQ_INT(metric(m, "grove_explain_requests_total"), 1,
               "inline: only the worker's explained job counted as explained");
  CHECK(!batcher_score_inline(b, &five.job, &inline_scratch) && tjob_untouched(&five),
        "inline: five rows are left to the workers");
  CHECK(gate_hold(b), "inline: the only worker held busy");
  tjob_t busy;
  tjob_init(&busy, income, 1, 0, 64);
  CHECK(!batcher_score_inline(b, &busy.job, &inline_scratch) && tjob_untouched(&busy),
        "inline: no idle worker, not taken");
  gate_release();
  CHECK(wait_jobs(&gate.job, 1), "inline: the held job finished");
  batcher_free(b);
  batcher_t *delayed = batcher_new(1, 64, 1000, BIG_QUEUE, 0, NULL);
  CHECK(!inline_taken(delayed, &busy) && tjob_untouched(&busy),
        "inline: never with --max-delay-us (the user asked for merging)");
  batcher_free(delayed);
  batcher_inline_free(&inline_scratch);
  tjob_release(&one);
  tjob_release(&three);
  tjob_release(&five);
  tjob_release(&busy);
  free(explained.job.contribs);
  free(explained.job.leaves);
  free(want_c);
  free(want_l);
  tjob_release(&explained);
  tjob_release(&late);
  tjob_release(&gate.job);
  metrics_free(m);
}

/* Inline scoring of several jobs at once (a loop pass's requests): the jobs inline scoring
 * takes are scored as one batch per model, each job's outputs as alone; the others are left
 * untouched for batcher_submit(); nothing is taken without an idle worker. */
static void test_inline_jobs(void) {
  metrics_t *m = metrics_new();
  batcher_t *b = batcher_new(1, 64, 0, BIG_QUEUE, 0, m);
  enum { N = 8 };
  tjob_t t[N];
  memset(t, 0, sizeof t);
  tjob_init(&t[0], income, 1, 0, 71);
  tjob_init(&t[1], multi, 3, 1, 72);  /* margins */
  tjob_init(&t[2], income, 5, 0, 73); /* too many rows: left */
  tjob_init(&t[3], income, 2, 0, 74);
  tjob_init(&t[4], income, 1, 0, 75); /* past its deadline: left */
  t[4].job.deadline = batcher_now() - 1;
  tjob_init(&t[5], multi, 1, 0, 76);
  tjob_init(&t[6], income, 4, 0, 77);
  tjob_init(&t[7], income, 1, 0, 78); /* explained: left */
  double *want_c;
  uint32_t *want_l;
  tjob_explain(&t[7], 1, 1, &want_c, &want_l);
  static const uint8_t expect[N] = {1, 1, 0, 1, 0, 1, 1, 0};
  batch_job_t *jobs[N];
  for (int i = 0; i < N; i++) jobs[i] = &t[i].job;
  uint8_t scored[N];
  batcher_inline_t scratch = {0};
  size_t taken = 0;
  for (int k = 0; k < 2000 && taken == 0; k++) { /* the worker may not be waiting yet */
    taken = batcher_score_inline_jobs(b, jobs, N, scored, &scratch);
    if (taken == 0) nanosleep(&(struct timespec){0, 500000}, NULL);
  }
  CHECK_EQ_INT(taken, 5, "inline jobs: the five a single call would take are taken");
  int flags = 0, right = 0, calls = 0;
  for (int i = 0; i < N; i++) {
    flags += scored[i] == expect[i];
    right += expect[i] ? !t[i].job.skipped && tjob_scored(&t[i]) : tjob_untouched(&t[i]);
    calls += atomic_load(&t[i].calls);
  }
  CHECK_EQ_INT(flags, N, "inline jobs: SCORED marks exactly the jobs taken");
  CHECK_EQ_INT(right, N,
               "inline jobs: each taken job's outputs equal grove_forest_predict on its rows "
               "alone; the others untouched");
  CHECK_EQ_INT(calls, 0, "inline jobs: done() is not called");
  CHECK_EQ_INT(metric(m, "grove_batches_total"), 2, "inline jobs: one batch per model");
  CHECK_EQ_INT(metric(m, "grove_rows_predicted_total"), 1 + 3 + 2 + 1 + 4,
               "inline jobs: the taken jobs' rows counted");
  CHECK_EQ_INT(metric(m, "grove_queued_rows"), 0, "inline jobs: nothing queued");
  /* The jobs left over go to the worker as usual. */
  int submitted = 0;
  for (int i = 0; i < N; i++)
    if (!scored[i]) submitted += batcher_submit(b, &t[i].job) == BATCHER_OK;
  CHECK_EQ_INT(submitted, 3, "inline jobs: the three left are accepted by batcher_submit");
  CHECK(wait_jobs(&t[2], 1) && wait_jobs(&t[4], 1) && wait_jobs(&t[7], 1) && tjob_scored(&t[2]) &&
            t[4].job.skipped && tjob_explained(&t[7], want_c, want_l),
        "inline jobs: the worker scores the large one, skips the late one, explains the other");
  CHECK(gate_hold(b), "inline jobs: the only worker held busy");
  tjob_t busy[2];
  tjob_init(&busy[0], income, 1, 0, 79);
  tjob_init(&busy[1], multi, 1, 0, 80);
  batch_job_t *busy_jobs[2] = {&busy[0].job, &busy[1].job};
  CHECK(batcher_score_inline_jobs(b, busy_jobs, 2, scored, &scratch) == 0 && !scored[0] &&
            !scored[1] && tjob_untouched(&busy[0]) && tjob_untouched(&busy[1]),
        "inline jobs: no idle worker, none taken");
  gate_release();
  CHECK(wait_jobs(&gate.job, 1), "inline jobs: the held job finished");
  batcher_free(b);
  /* --max-batch-rows holds for the batches merged on the caller too. */
  metrics_t *m2 = metrics_new();
  batcher_t *small = batcher_new(1, 2, 0, BIG_QUEUE, 0, m2);
  tjob_t rows3[3];
  batch_job_t *rows3_jobs[3];
  for (int i = 0; i < 3; i++) {
    tjob_init(&rows3[i], income, 1, 0, 90 + (uint64_t)i);
    rows3_jobs[i] = &rows3[i].job;
  }
  taken = 0;
  for (int k = 0; k < 2000 && taken == 0; k++) {
    taken = batcher_score_inline_jobs(small, rows3_jobs, 3, scored, &scratch);
    if (taken == 0) nanosleep(&(struct timespec){0, 500000}, NULL);
  }
  CHECK(taken == 3 && tjob_scored(&rows3[0]) && tjob_scored(&rows3[1]) && tjob_scored(&rows3[2]),
        "inline jobs, max_batch_rows 2: three one-row jobs taken and scored");
  CHECK_EQ_INT(metric(m2, "grove_batches_total"), 2,
               "inline jobs, max_batch_rows 2: in batches of 2 and 1 rows");
  batcher_free(small);
  metrics_free(m2);
  for (int i = 0; i < 3; i++) tjob_release(&rows3[i]);
  batcher_inline_free(&scratch);
  CHECK(scratch.rows == NULL && scratch.margins == NULL && scratch.chunks == NULL,
        "inline jobs: batcher_inline_free releases the scratch");
  for (int i = 0; i < N; i++) tjob_release(&t[i]);
  tjob_release(&busy[0]);
  tjob_release(&busy[1]);
  free(t[7].job.contribs);
  free(t[7].job.leaves);
  free(want_c);
  free(want_l);
  tjob_release(&gate.job);
  metrics_free(m);
}

int main(void) {
  main_thread = pthread_self();
  income = load(INCOME_PATH);
  multi = load(MULTI_PATH);
  test_single_rows(0);
  test_single_rows(1);
  test_split();
  test_merge_deterministic();
  test_concurrent();
  test_queue_full();
  test_cancel_deadline();
  test_delay();
  test_free_with_queue();
  test_zero_workers();
  test_zero_rows();
  test_explain();
  test_inline();
  test_inline_jobs();
  grove_forest_free(income);
  grove_forest_free(multi);
  int rc = test_done();
  fflush(stdout); /* the plan line, before LeakSanitizer may abort at exit */
  return rc;
}
