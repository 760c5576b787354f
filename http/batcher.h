/*
 * The micro-batcher: coalesces the rows of concurrent requests into engine batches run
 * by worker threads, so that the I/O loops score a few rows at most (batcher_score_inline).
 * A batch is flushed when it reaches max_batch_rows, as soon as a worker is idle
 * (max_delay_us 0, the default), or when its oldest rows have waited max_delay_us.
 * Requests larger than a batch are split into chunks that several workers score at once.
 * Requests asking for contributions are batched among themselves, in batches of
 * max_batch_rows / BATCHER_EXPLAIN_COST rows at most: TreeSHAP costs that many predictions
 * a row or more, and a smaller batch keeps a worker's turn (and the deadline checks between
 * batches) as short as a prediction's.
 */
#ifndef GROVE_BATCHER_H
#define GROVE_BATCHER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "grove_engine.h"
#include "metrics.h"

/* Predictions one row's contributions count as when batches are sized: income's (300
 * trees) cost some 30 microseconds a row in a batch (bench/RESULTS.md, "Explanations")
 * against about one, so a default batch (4096 rows) of them would hold a worker for over
 * 100 ms; 64 rows take a few milliseconds and still fill the vector walks' lanes. */
#define BATCHER_EXPLAIN_COST 64

typedef struct batcher batcher_t;
typedef struct batch_job batch_job_t;
typedef struct batch_run batch_run_t; /* the batcher's own bookkeeping of a queued job */

/* Called on a worker thread once every row of JOB is scored or skipped; the batcher
 * never touches JOB afterwards. */
typedef void (*batch_done_fn)(batch_job_t *job);

/* A request's rows to score. The submitter fills the fields above `cancelled` and keeps
 * JOB (and what it points to) alive until done() has been called. */
struct batch_job {
  const grove_forest_t *forest;
  const float *rows; /* nrows x num_features */
  size_t nrows;
  /* For a model that takes doubles: the rows as given and which of them no float row
   * decides as the library does (scored again with grove_forest_predict_f64); NULL: none. */
  const double *rows64;
  const uint8_t *inexact;
  size_t ninexact; /* rows INEXACT marks: all of them (a linear-tree model's rows, as a
                      rule) skip the float pass, whose outputs would all be replaced */
  /* Explanations asked for (NULL: none): nrows x grove_forest_contribs_width() doubles of
   * contributions, nrows x num_trees leaf indexes. A job is batched only with jobs asking
   * for the same. A model that takes doubles is explained from ROWS64, which must then hold
   * every row (INEXACT may still be NULL). */
  double *contribs;
  uint32_t *leaves;
  metrics_slot_t *metrics_slot; /* the model the rows are for, for its batch metrics (NULL: none) */
  int margin;                   /* raw margins instead of transformed outputs */
  float *out;                   /* nrows x grove_forest_output_width(forest, margin) */
  double deadline; /* monotonic seconds; chunks not started by then are skipped (0: none) */
  batch_done_fn done;
  atomic_int cancelled; /* set by the submitter to give up: what has not started is skipped */
  atomic_int skipped;   /* result, valid in done(): some rows were not scored */
  batch_run_t *run;     /* private to the batcher */
};

/* What batcher_submit() returns. */
typedef enum {
  BATCHER_OK = 0,
  BATCHER_EFULL = -1, /* the queue already holds max_queue_rows rows: answer 503 at once */
  BATCHER_ENOMEM = -2,
} batcher_status_t;

/*
 * Starts WORKERS threads. SPIN: an idle worker watches for work for a few microseconds
 * before it sleeps; worth it only when every thread has a core of its own. Returns NULL
 * when out of memory or a thread cannot start.
 */
batcher_t *batcher_new(uint32_t workers, uint32_t max_batch_rows, uint32_t max_delay_us,
                       uint64_t max_queue_rows, int spin, metrics_t *metrics);

/*
 * Queues JOB. BATCHER_EFULL, rather than letting latency grow without bound, when its rows
 * would take the queue past max_queue_rows (or the batcher is stopping).
 */
batcher_status_t batcher_submit(batcher_t *b, batch_job_t *job);

/* Buffers a thread keeps for batcher_score_inline() and batcher_score_inline_jobs() (and
 * each worker for its batches): zeroed to start, grown as needed, released with
 * batcher_inline_free(). */
typedef struct {
  float *rows;
  double *margins;
  void *chunks;
  size_t cap_rows_bytes, cap_margins, cap_chunks;
} batcher_inline_t;

/*
 * Scores JOB on the calling thread, when that is cheaper than handing it to a worker and
 * back: JOB has a few rows, nothing is queued (no batch would merge it), a worker is idle
 * (it would have run alone at once) and max_delay_us is 0; JOB asks for no contributions
 * nor leaves and its deadline has not passed. Its margins go to the thread's SCRATCH. Returns
 * 1 when it did (JOB's out and skipped are set, done() is not called, the batch is counted as
 * a worker's is), 0 when JOB is left for batcher_submit().
 */
int batcher_score_inline(batcher_t *b, batch_job_t *job, batcher_inline_t *scratch);

/*
 * batcher_score_inline() for N jobs at once, such as the requests one pass of a loop has
 * read: those it takes (SCORED[i] set to 1) are scored in batches of one model and
 * max_batch_rows rows at most, whose engine calls cost less a row than a call per job;
 * the others (SCORED[i] 0) are left for batcher_submit(). Returns how many it took.
 */
size_t batcher_score_inline_jobs(batcher_t *b, batch_job_t *const *jobs, size_t n, uint8_t *scored,
                                 batcher_inline_t *scratch);
void batcher_inline_free(batcher_inline_t *scratch);

/* Finishes the queued work (what no worker is left to score is skipped), stops the
 * workers, frees B. Every queued job's done() has been called when it returns. */
void batcher_free(batcher_t *b);

/* Monotonic clock in seconds (shared by the server for deadlines and latencies). */
double batcher_now(void);

#endif /* GROVE_BATCHER_H */
