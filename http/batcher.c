/* Micro-batching over worker threads (see batcher.h). */
#include "batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A slice of one job's rows: the unit the queue holds. */
struct batch_chunk {
  batch_job_t *job;
  size_t offset; /* first row within the job */
  size_t nrows;
  batch_chunk_t *next;
};

/* How far down the queue a worker looks for chunks of the same model. */
#define SCAN_LIMIT 256
/* Large requests are split no finer than this, so each piece still fills SIMD blocks. */
#define MIN_CHUNK_ROWS 256

typedef struct {
  batcher_t *b;
  pthread_t tid;
  float *rows;      /* gathered rows of a multi-chunk batch */
  float *margins;   /* the batch's margins */
  size_t cap_rows_floats, cap_margin_floats;
} worker_t;

struct batcher {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  batch_chunk_t *head, *tail;
  uint64_t queued_rows;
  int stopping;
  atomic_uint_fast64_t submissions; /* bumped by every submit: what idle workers spin on */
  int spin;                         /* idle workers spin before sleeping */
  uint32_t max_batch_rows, max_delay_us, nworkers;
  uint64_t max_queue_rows;
  grove_metrics_t *metrics;
  worker_t *workers;
};

double batcher_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int reserve(float **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  float *p = realloc(*buf, need * sizeof *p);
  if (p == NULL) return -1;
  *buf = p;
  *cap = need;
  return 0;
}

/* Removes and returns a batch: the head chunk plus later chunks of the same forest. */
static batch_chunk_t *take_batch(batcher_t *b, size_t *rows) {
  batch_chunk_t *first = b->head, *last = first;
  b->head = first->next;
  if (b->head == NULL) b->tail = NULL;
  first->next = NULL;
  size_t n = first->nrows;
  batch_chunk_t *prev = NULL, *c = b->head;
  for (int scanned = 0; c != NULL && n < b->max_batch_rows && scanned < SCAN_LIMIT; scanned++) {
    batch_chunk_t *next = c->next;
    if (c->job->forest == first->job->forest && n + c->nrows <= b->max_batch_rows) {
      if (prev) prev->next = next; else b->head = next;
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
  if (atomic_fetch_sub_explicit(&job->chunks_left, 1, memory_order_acq_rel) != 1) return;
  free(job->chunks);
  job->chunks = NULL;
  job->done(job);
}

static void run_batch(worker_t *w, batch_chunk_t *batch) {
  batcher_t *b = w->b;
  double now = batcher_now();
  const grove_forest_t *f = batch->job->forest;
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const uint32_t nf = info.num_features, ng = info.num_groups;

  /* Drop chunks whose job gave up or ran out of time; gather the others. */
  size_t n = 0, nchunks = 0, jobs = 0;
  batch_chunk_t *live = NULL, **tail = &live;
  for (batch_chunk_t *c = batch, *next; c != NULL; c = next) {
    next = c->next;
    batch_job_t *job = c->job;
    if (atomic_exchange_explicit(&job->started, 1, memory_order_relaxed) == 0) {
      job->queue_wait = now - job->enqueued_at;
      if (b->metrics) metrics_queue_wait(b->metrics, job->queue_wait);
      jobs++;
    }
    if (atomic_load_explicit(&job->cancelled, memory_order_relaxed) || (job->deadline > 0 && now > job->deadline)) {
      job->skipped = 1;
      chunk_finished(job);
      continue;
    }
    c->next = NULL;
    *tail = c;
    tail = &c->next;
    n += c->nrows;
    nchunks++;
  }
  if (n == 0) return;

  const float *rows = live->job->rows + live->offset * nf;
  if (nchunks > 1) {
    if (reserve(&w->rows, &w->cap_rows_floats, n * nf) != 0) rows = NULL;
    size_t at = 0;
    for (batch_chunk_t *c = live; c != NULL && rows != NULL; c = c->next) {
      memcpy(w->rows + at * nf, c->job->rows + c->offset * nf, c->nrows * nf * sizeof(float));
      at += c->nrows;
    }
    if (rows != NULL) rows = w->rows;
  }
  int ok = rows != NULL && reserve(&w->margins, &w->cap_margin_floats, n * ng) == 0;
  double t0 = batcher_now();
  if (ok) {
    grove_predict_opts_t opts = {.margin = 1, .threads = 1};
    ok = grove_forest_predict(f, rows, n, w->margins, &opts, NULL) == GROVE_OK;
  }
  double engine = batcher_now() - t0;
  if (b->metrics && ok) metrics_batch_done(b->metrics, n, jobs ? jobs : 1, engine);

  size_t at = 0;
  for (batch_chunk_t *c = live, *next; c != NULL; c = next) {
    next = c->next; /* c belongs to its job: read before finishing it */
    batch_job_t *job = c->job;
    if (ok) {
      const float *m = w->margins + at * ng;
      if (job->margin) {
        memcpy(job->out + c->offset * ng, m, c->nrows * ng * sizeof(float));
      } else {
        grove_forest_transform(f, m, c->nrows, job->out + c->offset * info.num_outputs);
      }
    } else {
      job->skipped = 1; /* out of memory: the request is answered with an error */
    }
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

static void spin_for_work(batcher_t *b) {
  uint_fast64_t seen = atomic_load_explicit(&b->submissions, memory_order_relaxed);
  double until = batcher_now() + SPIN_SECONDS;
  for (unsigned i = 1;; i++) {
    if (atomic_load_explicit(&b->submissions, memory_order_relaxed) != seen) return;
    __builtin_ia32_pause();
    if ((i & 63) == 0 && batcher_now() > until) return;
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  batcher_t *b = w->b;
  pthread_mutex_lock(&b->lock);
  for (;;) {
    if (b->spin && b->head == NULL && !b->stopping) {
      pthread_mutex_unlock(&b->lock);
      spin_for_work(b);
      pthread_mutex_lock(&b->lock);
    }
    while (b->head == NULL && !b->stopping) pthread_cond_wait(&b->wake, &b->lock);
    if (b->head == NULL) break; /* stopping and drained */
    if (b->max_delay_us > 0 && !b->stopping && b->queued_rows < b->max_batch_rows) {
      /* Hold the batch open until it fills or its oldest rows have waited long enough. */
      double until = b->head->job->enqueued_at + b->max_delay_us * 1e-6;
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
                       uint64_t max_queue_rows, int spin, grove_metrics_t *metrics) {
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

int batcher_submit(batcher_t *b, batch_job_t *job) {
  size_t per = b->max_batch_rows;
  /* Split a large request over the workers, but not into slivers. */
  if (job->nrows > MIN_CHUNK_ROWS && b->nworkers > 1) {
    size_t even = (job->nrows + b->nworkers - 1) / b->nworkers;
    if (even < MIN_CHUNK_ROWS) even = MIN_CHUNK_ROWS;
    if (even < per) per = even;
  }
  size_t nchunks = job->nrows == 0 ? 1 : (job->nrows + per - 1) / per;
  batch_chunk_t *chunks = calloc(nchunks, sizeof *chunks);
  if (chunks == NULL) return -2;
  for (size_t i = 0; i < nchunks; i++) {
    size_t off = i * per;
    chunks[i] = (batch_chunk_t){.job = job, .offset = off,
                                .nrows = job->nrows - off < per ? job->nrows - off : per};
    chunks[i].next = i + 1 < nchunks ? &chunks[i + 1] : NULL;
  }
  job->chunks = chunks;
  job->skipped = 0;
  job->queue_wait = 0;
  atomic_store(&job->started, 0);
  atomic_store(&job->chunks_left, (unsigned)nchunks);
  job->enqueued_at = batcher_now();

  pthread_mutex_lock(&b->lock);
  if (b->queued_rows + job->nrows > b->max_queue_rows || b->stopping) {
    pthread_mutex_unlock(&b->lock);
    free(chunks);
    job->chunks = NULL;
    return -1;
  }
  if (b->tail) b->tail->next = &chunks[0]; else b->head = &chunks[0];
  b->tail = &chunks[nchunks - 1];
  b->queued_rows += job->nrows;
  atomic_fetch_add_explicit(&b->submissions, 1, memory_order_relaxed);
  /* One chunk wakes one worker; a split request wakes as many as it has pieces. */
  if (nchunks == 1) pthread_cond_signal(&b->wake); else pthread_cond_broadcast(&b->wake);
  pthread_mutex_unlock(&b->lock);
  if (b->metrics) metrics_queued_rows_add(b->metrics, (int64_t)job->nrows);
  return 0;
}

void batcher_free(batcher_t *b) {
  if (b == NULL) return;
  pthread_mutex_lock(&b->lock);
  b->stopping = 1;
  pthread_cond_broadcast(&b->wake);
  pthread_mutex_unlock(&b->lock);
  for (uint32_t i = 0; i < b->nworkers; i++) {
    pthread_join(b->workers[i].tid, NULL);
    free(b->workers[i].rows);
    free(b->workers[i].margins);
  }
  free(b->workers);
  pthread_cond_destroy(&b->wake);
  pthread_mutex_destroy(&b->lock);
  free(b);
}
