/*
 * Internal: the engine's helper threads for splitting one batch over threads. They are
 * started on first use and kept, so a batch of a few dozen rows can be split: starting a
 * thread per call (tens of microseconds) cost more than such a batch takes. One caller
 * uses them at a time; a caller that finds them busy is told so and runs its parts itself
 * (or on threads of its own).
 */
#ifndef GROVE_POOL_H
#define GROVE_POOL_H

#include <stdint.h>

/* Part I of N of a job, on some thread. */
typedef void (*grove_pool_fn)(void *arg, uint32_t i);

/*
 * Runs FN(ARG, i) for i in [0, N): part 0 on the calling thread, the others on the
 * helpers (started as needed, up to N - 1 of them; a part whose helper cannot start runs on
 * the calling thread), and returns when all are done: 1. Returns 0 at once, having run
 * nothing, when another call holds the helpers.
 */
int grove__pool_run(grove_pool_fn fn, void *arg, uint32_t n);

#endif
