/* Micro-batching over worker threads (see batcher.h). */
#include "batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct batch_chunk batch_chunk_t;

/* A slice of one job's rows: the unit the queue holds. */
struct batch_chunk {
  batch_job_t *job;
  size_t offset; /* first row within the job */
  size_t nrows;
  batch_chunk_t *next;
};

/* One queued job's bookkeeping, allocated at submit with its chunks, freed before done(). */
struct batch_run {
  double enqueued_at; /* monotonic seconds */
  atomic_int started; /* its first chunk has been taken by a worker */
  atomic_uint chunks_left;
  batch_chunk_t chunks[];
};

/* How far down the queue a worker looks for chunks of the same model. */
#define SCAN_LIMIT             256
/* Large requests are split no finer than this, so each piece still fills SIMD blocks. */
#define MIN_CHUNK_ROWS         256
/* Contributions cost BATCHER_EXPLAIN_COST predictions a row or more: split finer. */
#define MIN_EXPLAIN_CHUNK_ROWS (MIN_CHUNK_ROWS / BATCHER_EXPLAIN_COST)

typedef struct {
  batcher_t *b;
  pthread_t tid;
  batcher_inline_t buf; /* a multi-chunk batch's gathered rows, and every batch's margins */
  /* An explained multi-chunk batch: its rows as doubles (a model that takes doubles), its
   * contributions and leaves before they go back to their jobs. */
  double *rows64, *contribs;
  uint32_t *leaves;
  size_t cap_rows64_bytes, cap_contribs, cap_leaves;
} worker_t;

struct batcher {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  batch_chunk_t *head, *tail;
  uint64_t queued_rows;
  int stopping;
  uint32_t idle;                    /* workers waiting (or spinning) for work */
  atomic_uint_fast64_t submissions; /* bumped by every submit: what idle workers spin on */
  int spin;                         /* idle workers spin before sleeping */
  uint32_t max_batch_rows, max_delay_us, nworkers;
  uint32_t max_explain_rows; /* a batch of contributions: max_batch_rows / BATCHER_EXPLAIN_COST */
  uint64_t max_queue_rows;
  metrics_t *metrics;
  worker_t *workers;
};

double batcher_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Grows *BUF (elements of SIZE bytes, *CAP of them) to hold NEED. */
static int reserve(void **buf, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  void *p = need <= SIZE_MAX / size ? realloc(*buf, need * size) : NULL;
  if (p == NULL) return -1;
  *buf = p;
  *cap = need;
  return 0;
}

/* What JOB asks for beyond predictions: jobs that differ here never share a batch. */
static int job_kind(const batch_job_t *job) {
  return (job->contribs != NULL) | (job->leaves != NULL) << 1;
}

/* Rows a batch of JOB's kind holds at most. */
static size_t batch_limit(const batcher_t *b, const batch_job_t *job) {
  return job->contribs != NULL ? b->max_explain_rows : b->max_batch_rows;
}

/* Removes and returns a batch: the head chunk plus later chunks of the same forest and kind. */
static batch_chunk_t *take_batch(batcher_t *b, size_t *rows) {
  batch_chunk_t *first = b->head, *last = first;
  b->head = first->next;
  if (b->head == NULL) b->tail = NULL;
  first->next = NULL;
  size_t n = first->nrows;
  const size_t limit = batch_limit(b, first->job);
  const int kind = job_kind(first->job);
  batch_chunk_t *prev = NULL, *c = b->head;
  for (int scanned = 0; c != NULL && n < limit && scanned < SCAN_LIMIT; scanned++) {
    batch_chunk_t *next = c->next;
    if (c->job->forest == first->job->forest && job_kind(c->job) == kind && n + c->nrows <= limit) {
      if (prev)
        prev->next = next;
      else
        b->head = next;
      if (b->tail == c) b->tail = prev;
      c->next = NULL;
      last->next = c;
      last = c;
      n += c->nrows;
    } else {
      prev = c;
    }
    c = next;
  }
  b->queued_rows -= n;
  *rows = n;
  return first;
}

/* Marks one chunk of JOB finished; the last one frees the chunks and calls done(). */
static void chunk_finished(batch_job_t *job) {
  if (atomic_fetch_sub_explicit(&job->run->chunks_left, 1, memory_order_acq_rel) != 1) return;
  free(job->run);
  job->run = NULL;
  job->done(job);
}

/*
 * Drops the chunks of BATCH whose job gave up or ran out of time (finishing them as
 * skipped) and returns the others as a list; *ROWS and *NCHUNKS count them, *JOBS the jobs
 * that start with this batch (their queue wait is counted for SLOT's model).
 */
static batch_chunk_t *live_chunks(batcher_t *b, batch_chunk_t *batch, metrics_slot_t *slot,
                                  double now, size_t *rows, size_t *nchunks, size_t *jobs) {
  batch_chunk_t *live = NULL, **tail = &live;
  *rows = *nchunks = *jobs = 0;
  for (batch_chunk_t *c = batch, *next; c != NULL; c = next) {
    next = c->next;
    batch_job_t *job = c->job;
    if (atomic_exchange_explicit(&job->run->started, 1, memory_order_relaxed) == 0) {
      if (b->metrics) metrics_queue_wait(b->metrics, slot, now - job->run->enqueued_at);
      (*jobs)++;
    }
    if (atomic_load_explicit(&job->cancelled, memory_order_relaxed) ||
        (job->deadline > 0 && now > job->deadline)) {
      atomic_store_explicit(&job->skipped, 1, memory_order_relaxed);
      chunk_finished(job);
      continue;
    }
    c->next = NULL;
    *tail = c;
    tail = &c->next;
    *rows += c->nrows;
    (*nchunks)++;
  }
  return live;
}

/* Chunk C's job's rows, as floats or (DOUBLES) as doubles. */
static const char *chunk_rows(const batch_chunk_t *c, int doubles) {
  return doubles ? (const char *)c->job->rows64 : (const char *)c->job->rows;
}

/* The rows of LIVE's chunks in one array, as floats or (DOUBLES) as the jobs' doubles: the
 * only chunk's own rows, or gathered into *BUF (*CAP bytes); NULL when out of memory. */
static const void *gather_chunks(batch_chunk_t *live, size_t n, size_t nchunks, size_t row_bytes,
                                 int doubles, void **buf, size_t *cap) {
  if (nchunks == 1) return chunk_rows(live, doubles) + live->offset * row_bytes;
  if (reserve(buf, cap, n * row_bytes, 1) != 0) return NULL;
  size_t at = 0;
  for (batch_chunk_t *c = live; c != NULL; c = c->next) {
    memcpy((char *)*buf + at * row_bytes, chunk_rows(c, doubles) + c->offset * row_bytes,
           c->nrows * row_bytes);
    at += c->nrows;
  }
  return *buf;
}

/* The rows of chunk C that no float row decides as the model's library does (LightGBM
 * inputs between two thresholds that share a float, linear leaves): scored again from their
 * doubles. 0, or -1 when the engine fails. */
static int rescore_inexact(const grove_forest_t *f, batch_job_t *job, const batch_chunk_t *c,
                           uint32_t nf) {
  const uint32_t width = grove_forest_output_width(f, job->margin);
  grove_predict_opts_t opts = {.margin = job->margin, .threads = 1};
  for (size_t r = c->offset; r < c->offset + c->nrows; r++)
    if (job->inexact[r] && grove_forest_predict_f64(f, job->rows64 + r * nf, 1,
                                                    job->out + r * width, &opts, NULL) != GROVE_OK)
      return -1;
  return 0;
}

/* The doubles of LIVE's chunks in one array, as gather_rows does for floats; NULL when a
 * job has none or out of memory. */
static const double *gather_rows64(worker_t *w, batch_chunk_t *live, size_t n, size_t nchunks,
                                   uint32_t nf) {
  for (batch_chunk_t *c = live; c != NULL; c = c->next)
    if (c->job->rows64 == NULL) return NULL;
  return gather_chunks(live, n, nchunks, nf * sizeof(double), 1, (void **)&w->rows64,
                       &w->cap_rows64_bytes);
}

/*
 * The contributions and / or leaves LIVE's jobs asked for (take_batch gives a batch one
 * kind), one engine call each for the whole batch, written back to each job. A model that
 * takes doubles is explained from its doubles, as its library decides them. 0, or -1 when
 * out of memory or the engine fails (every job of the batch then answers an error).
 */
static int explain_batch(worker_t *w, const grove_forest_t *f, const grove_forest_info_t *info,
                         batch_chunk_t *live, size_t n, size_t nchunks, const float *rows) {
  const batch_job_t *first = live->job;
  const uint32_t nf = info->num_features, width = grove_forest_contribs_width(f);
  const double *rows64 = NULL;
  if (grove_forest_takes_doubles(f) && (rows64 = gather_rows64(w, live, n, nchunks, nf)) == NULL)
    return -1;
  /* One chunk: straight into its job's arrays; several: into the worker's, then copied. */
  const size_t trees = info->num_trees;
  double *contribs = first->contribs != NULL ? first->contribs + live->offset * width : NULL;
  uint32_t *leaves = first->leaves != NULL ? first->leaves + live->offset * trees : NULL;
  if (nchunks > 1 && contribs != NULL) {
    if (reserve((void **)&w->contribs, &w->cap_contribs, n * width, sizeof(double)) != 0) return -1;
    contribs = w->contribs;
  }
  if (nchunks > 1 && leaves != NULL) {
    if (reserve((void **)&w->leaves, &w->cap_leaves, n * trees + 1, sizeof(uint32_t)) != 0)
      return -1;
    leaves = w->leaves;
  }
  grove_error_t err;
  if (contribs != NULL &&
      (rows64 != NULL ? grove_forest_contribs_f64(f, rows64, n, contribs, &err)
                      : grove_forest_contribs(f, rows, n, contribs, &err)) != GROVE_OK)
    return -1;
  if (leaves != NULL &&
      (rows64 != NULL ? grove_forest_leaves_f64(f, rows64, n, leaves, &err)
                      : grove_forest_leaves(f, rows, n, leaves, &err)) != GROVE_OK)
    return -1;
  if (nchunks == 1) return 0;
  size_t at = 0;
  for (batch_chunk_t *c = live; c != NULL; c = c->next) {
    if (contribs != NULL)
      memcpy(c->job->contribs + c->offset * width, contribs + at * width,
             c->nrows * width * sizeof(double));
    if (leaves != NULL)
      memcpy(c->job->leaves + c->offset * trees, leaves + at * trees,
             c->nrows * trees * sizeof(uint32_t));
    at += c->nrows;
  }
  return 0;
}

/* Scores N rows of F into MARGINS (n x groups) and counts the batch (REQUESTS requests)
 * for SLOT's model; 0, or -1 when the engine fails. */
static int score_margins(batcher_t *b, const grove_forest_t *f, metrics_slot_t *slot,
                         const float *rows, size_t n, size_t requests, double *margins) {
  double t0 = batcher_now();
  /* Margins as doubles: LightGBM's outputs are its double sums transformed, then rounded
   * once (XGBoost's float sums are widened and narrowed back exactly). */
  grove_predict_opts_t opts = {.margin = 1, .threads = 1};
  if (grove_forest_predict_margins64(f, rows, n, margins, &opts, NULL) != GROVE_OK) return -1;
  if (b->metrics) metrics_batch_done(b->metrics, slot, n, requests, batcher_now() - t0);
  return 0;
}

/* The margins (n x groups) of LIVE's chunks (N rows of one forest F, NCHUNKS chunks, REQUESTS
 * requests counted for SLOT's model) in one engine call, their rows gathered into BUF (to
 * *ROWS); NULL when out of memory or the engine fails. A worker's batches and the I/O
 * threads' inline ones both score this way. */
static const double *score_live(batcher_t *b, batcher_inline_t *buf, const grove_forest_t *f,
                                const grove_forest_info_t *info, metrics_slot_t *slot,
                                batch_chunk_t *live, size_t n, size_t nchunks, size_t requests,
                                const float **rows) {
  *rows = gather_chunks(live, n, nchunks, info->num_features * sizeof(float), 0,
                        (void **)&buf->rows, &buf->cap_rows_bytes);
  const size_t margins = n * info->num_groups;
  if (*rows == NULL || reserve((void **)&buf->margins, &buf->cap_margins, margins, sizeof(double)))
    return NULL;
  return score_margins(b, f, slot, *rows, n, requests, buf->margins) == 0 ? buf->margins : NULL;
}

/* Chunk C's outputs from its margins M (c->nrows x groups); 0, or -1 when rescoring fails. */
static int chunk_outputs(const grove_forest_t *f, const grove_forest_info_t *info,
                         const batch_chunk_t *c, const double *m) {
  batch_job_t *job = c->job;
  const uint32_t ng = info->num_groups;
  if (job->margin) {
    for (size_t i = 0; i < c->nrows * ng; i++) job->out[c->offset * ng + i] = (float)m[i];
  } else {
    grove_forest_transform64(f, m, c->nrows, job->out + c->offset * info->num_outputs);
  }
  return job->inexact != NULL ? rescore_inexact(f, job, c, info->num_features) : 0;
}

/* Whether every row of the chunks from LIVE on is one no float row decides as its library
 * does (rescore_inexact): then they are scored from their doubles alone. */
static int all_inexact(const batch_chunk_t *live) {
  for (const batch_chunk_t *c = live; c != NULL; c = c->next)
    if (c->job->inexact == NULL || c->job->ninexact < c->job->nrows) return 0;
  return 1;
}

/* Chunk C's outputs from its doubles; 0, or -1 when the engine fails. */
static int chunk_outputs64(const grove_forest_t *f, uint32_t nf, const batch_chunk_t *c) {
  batch_job_t *job = c->job;
  const uint32_t width = grove_forest_output_width(f, job->margin);
  grove_predict_opts_t opts = {.margin = job->margin, .threads = 1};
  return grove_forest_predict_f64(f, job->rows64 + c->offset * nf, c->nrows,
                                  job->out + c->offset * width, &opts, NULL) == GROVE_OK
             ? 0
             : -1;
}

/* The chunks from LIVE on (N rows of REQUESTS requests for SLOT's model), each from its
 * doubles: all_inexact(). A chunk the engine fails is skipped. */
static void score_doubles(batcher_t *b, const grove_forest_t *f, metrics_slot_t *slot,
                          batch_chunk_t *live, size_t n, size_t requests) {
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  double t0 = batcher_now();
  for (batch_chunk_t *c = live; c != NULL; c = c->next)
    if (chunk_outputs64(f, info.num_features, c) != 0)
      atomic_store_explicit(&c->job->skipped, 1, memory_order_relaxed);
  if (b->metrics) metrics_batch_done(b->metrics, slot, n, requests, batcher_now() - t0);
}

static void run_batch(worker_t *w, batch_chunk_t *batch) {
  batcher_t *b = w->b;
  const grove_forest_t *f = batch->job->forest;
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const uint32_t ng = info.num_groups;
  size_t n, nchunks, jobs;
  /* take_batch merges chunks of one forest only, so a batch is one model's. */
  metrics_slot_t *slot = batch->job->metrics_slot;
  batch_chunk_t *live = live_chunks(b, batch, slot, batcher_now(), &n, &nchunks, &jobs);
  if (n == 0) { /* nothing to score, but zero-row jobs still finish */
    for (batch_chunk_t *c = live, *next; c != NULL; c = next) {
      next = c->next;
      chunk_finished(c->job);
    }
    return;
  }
  if (job_kind(live->job) == 0 && all_inexact(live)) {
    score_doubles(b, f, slot, live, n, jobs ? jobs : 1);
    for (batch_chunk_t *c = live, *next; c != NULL; c = next) {
      next = c->next;
      chunk_finished(c->job);
    }
    return;
  }
  const float *rows;
  const double *margins =
      score_live(b, &w->buf, f, &info, slot, live, n, nchunks, jobs ? jobs : 1, &rows);
  int ok = margins != NULL;
  if (ok && job_kind(live->job) != 0) {
    double t0 = batcher_now();
    ok = explain_batch(w, f, &info, live, n, nchunks, rows) == 0;
    if (b->metrics && ok) metrics_explain_done(b->metrics, slot, n, jobs, batcher_now() - t0);
  }

  size_t at = 0;
  for (batch_chunk_t *c = live, *next; c != NULL; c = next) {
    next = c->next; /* c belongs to its job: read before finishing it */
    batch_job_t *job = c->job;
    if (!ok || chunk_outputs(f, &info, c, margins + at * ng) != 0) /* out of memory */
      atomic_store_explicit(&job->skipped, 1, memory_order_relaxed);
    at += c->nrows;
    chunk_finished(job);
  }
}

/*
 * Under load the next request arrives within microseconds; sleeping on the condition
 * variable costs a futex wake-up on the submitting loop and a context switch here. So an
 * idle worker first watches the submission counter for SPIN_SECONDS, lock released.
 */
#define SPIN_SECONDS 20e-6

/* Tells the CPU this is a spin-wait loop (x86's pause), where the compiler has one. */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void spin_for_work(batcher_t *b) {
  uint_fast64_t seen = atomic_load_explicit(&b->submissions, memory_order_relaxed);
  double until = batcher_now() + SPIN_SECONDS;
  for (unsigned i = 1;; i++) {
    if (atomic_load_explicit(&b->submissions, memory_order_relaxed) != seen) return;
    cpu_relax();
    if ((i & 63) == 0 && batcher_now() > until) return;
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  batcher_t *b = w->b;
  pthread_mutex_lock(&b->lock);
  for (;;) {
    if (b->head == NULL && !b->stopping) {
      b->idle++;
      if (b->spin) {
        pthread_mutex_unlock(&b->lock);
        spin_for_work(b);
        pthread_mutex_lock(&b->lock);
      }
      while (b->head == NULL && !b->stopping) pthread_cond_wait(&b->wake, &b->lock);
      b->idle--;
    }
    if (b->head == NULL) break; /* stopping and drained */
    if (b->max_delay_us > 0 && !b->stopping && b->queued_rows < batch_limit(b, b->head->job)) {
      /* Hold the batch open until it fills or its oldest rows have waited long enough. */
      double until = b->head->job->run->enqueued_at + b->max_delay_us * 1e-6;
      if (batcher_now() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double wait = until - batcher_now();
        long ns = ts.tv_nsec + (long)(wait * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&b->wake, &b->lock, &ts);
        continue;
      }
    }
    size_t rows;
    batch_chunk_t *batch = take_batch(b, &rows);
    pthread_mutex_unlock(&b->lock);
    if (b->metrics) metrics_queued_rows_add(b->metrics, -(int64_t)rows);
    run_batch(w, batch);
    pthread_mutex_lock(&b->lock);
  }
  pthread_mutex_unlock(&b->lock);
  return NULL;
}

batcher_t *batcher_new(uint32_t workers, uint32_t max_batch_rows, uint32_t max_delay_us,
                       uint64_t max_queue_rows, int spin, metrics_t *metrics) {
  batcher_t *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  b->workers = calloc(workers ? workers : 1, sizeof *b->workers);
  if (b->workers == NULL) {
    free(b);
    return NULL;
  }
  pthread_mutex_init(&b->lock, NULL);
  pthread_cond_init(&b->wake, NULL);
  b->max_batch_rows = max_batch_rows ? max_batch_rows : 1;
  b->max_explain_rows = b->max_batch_rows / BATCHER_EXPLAIN_COST;
  if (b->max_explain_rows == 0) b->max_explain_rows = 1;
  b->max_delay_us = max_delay_us;
  b->max_queue_rows = max_queue_rows;
  b->spin = spin;
  b->metrics = metrics;
  for (uint32_t i = 0; i < workers; i++) {
    b->workers[i].b = b;
    if (pthread_create(&b->workers[i].tid, NULL, worker_main, &b->workers[i]) != 0) {
      batcher_free(b);
      return NULL;
    }
    b->nworkers++;
  }
  return b;
}

batcher_status_t batcher_submit(batcher_t *b, batch_job_t *job) {
  size_t per = batch_limit(b, job);
  const size_t min_chunk = job->contribs != NULL ? MIN_EXPLAIN_CHUNK_ROWS : MIN_CHUNK_ROWS;
  /* Split a large request over the workers, but not into slivers. */
  if (job->nrows > min_chunk && b->nworkers > 1) {
    size_t even = (job->nrows + b->nworkers - 1) / b->nworkers;
    if (even < min_chunk) even = min_chunk;
    if (even < per) per = even;
  }
  size_t nchunks = job->nrows == 0 ? 1 : (job->nrows + per - 1) / per;
  batch_run_t *run = calloc(1, sizeof *run + nchunks * sizeof run->chunks[0]);
  if (run == NULL) return BATCHER_ENOMEM;
  batch_chunk_t *chunks = run->chunks;
  for (size_t i = 0; i < nchunks; i++) {
    size_t off = i * per;
    chunks[i] = (batch_chunk_t){
        .job = job, .offset = off, .nrows = job->nrows - off < per ? job->nrows - off : per};
    chunks[i].next = i + 1 < nchunks ? &chunks[i + 1] : NULL;
  }
  atomic_init(&run->started, 0);
  atomic_init(&run->chunks_left, (unsigned)nchunks);
  run->enqueued_at = batcher_now();
  job->run = run;
  atomic_store_explicit(&job->skipped, 0, memory_order_relaxed);

  pthread_mutex_lock(&b->lock);
  if (b->queued_rows + job->nrows > b->max_queue_rows || b->stopping) {
    pthread_mutex_unlock(&b->lock);
    free(run);
    job->run = NULL;
    return BATCHER_EFULL;
  }
  if (b->tail)
    b->tail->next = &chunks[0];
  else
    b->head = &chunks[0];
  b->tail = &chunks[nchunks - 1];
  b->queued_rows += job->nrows;
  atomic_fetch_add_explicit(&b->submissions, 1, memory_order_relaxed);
  /* One chunk wakes one worker; a split request wakes as many as it has pieces. */
  if (nchunks == 1)
    pthread_cond_signal(&b->wake);
  else
    pthread_cond_broadcast(&b->wake);
  pthread_mutex_unlock(&b->lock);
  if (b->metrics) metrics_queued_rows_add(b->metrics, (int64_t)job->nrows);
  return BATCHER_OK;
}

void batcher_free(batcher_t *b) {
  if (b == NULL) return;
  pthread_mutex_lock(&b->lock);
  b->stopping = 1;
  pthread_cond_broadcast(&b->wake);
  pthread_mutex_unlock(&b->lock);
  for (uint32_t i = 0; i < b->nworkers; i++) {
    pthread_join(b->workers[i].tid, NULL);
    batcher_inline_free(&b->workers[i].buf);
    free(b->workers[i].rows64);
    free(b->workers[i].contribs);
    free(b->workers[i].leaves);
  }
  /* Workers drain the queue before they stop; without any, its jobs are skipped here. */
  for (batch_chunk_t *c = b->head, *next; c != NULL; c = next) {
    next = c->next; /* read first: the last chunk of a job frees its run */
    atomic_store_explicit(&c->job->skipped, 1, memory_order_relaxed);
    chunk_finished(c->job);
  }
  free(b->workers);
  pthread_cond_destroy(&b->wake);
  pthread_mutex_destroy(&b->lock);
  free(b);
}

/* Inline scoring takes requests of at most this many rows and margins each. */
#define INLINE_MAX_ROWS    4
#define INLINE_MAX_MARGINS 64

/* Whether JOB is one inline scoring takes (batcher_score_inline_jobs()), at time NOW. */
static int inline_eligible(const batch_job_t *job, double now) {
  if (job->nrows == 0 || job->nrows > INLINE_MAX_ROWS) return 0;
  /* Contributions and leaves stay with the workers (they cost tens of predictions a row and
   * are batched among themselves), and so does a job past its deadline (a worker skips it). */
  if (job_kind(job) != 0 || (job->deadline > 0 && now > job->deadline)) return 0;
  grove_forest_info_t info;
  grove_forest_get_info(job->forest, &info);
  return job->nrows * info.num_groups <= INLINE_MAX_MARGINS;
}

/* Scores the chunks from LIVE on (one forest's, N rows of JOBS jobs for SLOT's model) as one
 * batch, the way run_batch() does; a job the engine fails is marked skipped. */
static void inline_batch(batcher_t *b, batcher_inline_t *scratch, batch_chunk_t *live, size_t n,
                         size_t jobs) {
  const grove_forest_t *f = live->job->forest;
  metrics_slot_t *slot = live->job->metrics_slot;
  if (all_inexact(live)) {
    score_doubles(b, f, slot, live, n, jobs);
    return;
  }
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const float *rows;
  const double *margins = score_live(b, scratch, f, &info, slot, live, n, jobs, jobs, &rows);
  size_t at = 0;
  for (batch_chunk_t *c = live; c != NULL; c = c->next) {
    if (margins == NULL || chunk_outputs(f, &info, c, margins + at * info.num_groups) != 0)
      atomic_store_explicit(&c->job->skipped, 1, memory_order_relaxed);
    at += c->nrows;
  }
}

size_t batcher_score_inline_jobs(batcher_t *b, batch_job_t *const *jobs, size_t n, uint8_t *scored,
                                 batcher_inline_t *scratch) {
  memset(scored, 0, n);
  if (n == 0 || b->max_delay_us > 0) return 0;
  /* A held lock means a worker or another loop is at the queue: leave the jobs to it. */
  if (pthread_mutex_trylock(&b->lock) != 0) return 0;
  const int idle = b->head == NULL && b->idle > 0 && !b->stopping;
  pthread_mutex_unlock(&b->lock);
  if (!idle) return 0;
  batch_chunk_t single, *chunks = &single; /* one job's needs no allocation */
  if (n > 1 && reserve(&scratch->chunks, &scratch->cap_chunks, n, sizeof(batch_chunk_t)) != 0)
    return 0;
  if (n > 1) chunks = scratch->chunks;
  const double now = batcher_now();
  size_t taken = 0;
  for (size_t i = 0; i < n; i++) {
    batch_job_t *job = jobs[i];
    if (!inline_eligible(job, now)) continue;
    chunks[taken++] = (batch_chunk_t){.job = job, .offset = 0, .nrows = job->nrows};
    atomic_store_explicit(&job->skipped, 0, memory_order_relaxed);
    if (b->metrics) metrics_queue_wait(b->metrics, job->metrics_slot, 0);
    scored[i] = 1;
  }
  /* Batches of one model each, of max_batch_rows at most (a job alone may pass it, as it
   * would alone), in the jobs' order: a job's rows score alike in any batch. */
  for (size_t i = 0; i < taken; i++) {
    if (chunks[i].next == &chunks[i]) continue; /* in an earlier batch */
    batch_chunk_t *last = &chunks[i];
    size_t rows = chunks[i].nrows, count = 1;
    for (size_t k = i + 1; k < taken; k++)
      if (chunks[k].next != &chunks[k] && chunks[k].job->forest == chunks[i].job->forest &&
          chunks[k].job->metrics_slot == chunks[i].job->metrics_slot &&
          rows + chunks[k].nrows <= b->max_batch_rows) {
        last->next = &chunks[k];
        last = &chunks[k];
        rows += chunks[k].nrows;
        count++;
      }
    last->next = NULL;
    inline_batch(b, scratch, &chunks[i], rows, count);
    /* Mark the batch's chunks (after the walk: inline_batch follows next). */
    for (batch_chunk_t *c = &chunks[i], *next; c != NULL; c = next) {
      next = c->next;
      c->next = c;
    }
  }
  return taken;
}

int batcher_score_inline(batcher_t *b, batch_job_t *job, batcher_inline_t *scratch) {
  uint8_t scored;
  return batcher_score_inline_jobs(b, &job, 1, &scored, scratch) == 1;
}

void batcher_inline_free(batcher_inline_t *scratch) {
  free(scratch->rows);
  free(scratch->margins);
  free(scratch->chunks);
  *scratch = (batcher_inline_t){0};
}
