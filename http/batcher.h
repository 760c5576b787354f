/*
 * The micro-batcher: coalesces the rows of concurrent requests into engine batches run
 * by worker threads, so that the I/O loops never evaluate trees. A batch is flushed when
 * it reaches max_batch_rows, as soon as a worker is idle (max_delay_us 0, the default),
 * or when its oldest rows have waited max_delay_us. Requests larger than a batch are
 * split into chunks that several workers score at once.
 */
#ifndef GROVE_BATCHER_H
#define GROVE_BATCHER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "grove_engine.h"
#include "metrics.h"

typedef struct batcher batcher_t;
typedef struct batch_job batch_job_t;
typedef struct batch_chunk batch_chunk_t;

/* Called on a worker thread once every row of JOB is scored or skipped; the batcher
 * never touches JOB afterwards. */
typedef void (*batch_done_fn)(batch_job_t *job);

struct batch_job {
  /* Set by the submitter, constant while queued. */
  const grove_forest_t *forest; /* kept alive by the submitter until done */
  const float *rows;            /* nrows x num_features */
  size_t nrows;
  int margin;                   /* raw margins instead of transformed outputs */
  float *out;                   /* nrows x grove_forest_output_width(forest, margin) */
  double deadline;              /* monotonic seconds; chunks not started by then are skipped */
  batch_done_fn done;
  /* Set by either side. */
  atomic_int cancelled;         /* the submitter gave up: skip what is not started */
  /* Set by the batcher. */
  int skipped;                  /* some rows were not scored (deadline or cancelled) */
  double enqueued_at;           /* monotonic seconds */
  double queue_wait;            /* seconds from submit to the start of its first chunk */
  atomic_int started;
  atomic_uint chunks_left;
  batch_chunk_t *chunks;        /* owned by the batcher, freed before done() */
};

/*
 * Starts WORKERS threads. SPIN: an idle worker watches for work for a few microseconds
 * before it sleeps; worth it only when every thread has a core of its own. Returns NULL
 * when out of memory or a thread cannot start.
 */
batcher_t *batcher_new(uint32_t workers, uint32_t max_batch_rows, uint32_t max_delay_us,
                       uint64_t max_queue_rows, int spin, grove_metrics_t *metrics);

/*
 * Queues JOB. Returns 0, or -1 when the queue already holds max_queue_rows rows (the
 * caller answers 503 at once rather than letting latency grow without bound), or -2
 * when out of memory.
 */
int batcher_submit(batcher_t *b, batch_job_t *job);

/* Finishes the queued work, stops the workers, frees B. */
void batcher_free(batcher_t *b);

/* Monotonic clock in seconds (shared by the server for deadlines and latencies). */
double batcher_now(void);

#endif /* GROVE_BATCHER_H */
