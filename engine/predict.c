/*
 * Batches: base margins, the kernel, the output transform, and splitting over threads.
 * The kernels' scratch comes from here (a stack buffer, or one allocation per call for
 * wide rows), so that no kernel allocates and none falls back to another when memory is
 * short: grove_forest_predict() reports GROVE_ENOMEM instead.
 *
 * Float forests (XGBoost, scikit-learn) sum into the float margins the caller's OUT
 * holds. Leaf64 forests (LightGBM) sum in double: each slice scores its rows in chunks
 * whose double margins fit a stack buffer, and rounds each output to float once, after
 * the transform (computed in double, as LightGBM computes it).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/kernels.h"
#include "objective.h"
#include "pool.h"

/* Below this many rows per thread, handing a slice to a helper (pool.c) costs more than it
 * saves; starting a thread for it (when another call holds the helpers), below the second. */
#define MIN_ROWS_PER_THREAD       32
#define MIN_ROWS_PER_THREAD_START 512
#define MAX_THREADS               256

/* Kernel scratch up to this size lives on the stack of the thread running the slice:
 * the avx512 rows kernel's block for rows of up to 64 features. */
#define STACK_SCRATCH_BYTES 16384

/* Leaf64 forests' double margins per chunk of a slice (on its stack): 2048 rows of one
 * group, fewer of more. A chunk of 32 rows or more keeps the rows kernels' blocks full. */
#define CHUNK_MARGINS 2048

const char *grove_engine_isa(void) { return grove__kernel_get()->isa; }
const char *grove_engine_kernel(void) { return grove__kernel_get()->name; }
const char *grove_engine_isa_note(void) { return grove__kernel_note(); }
const char *grove_forest_kernel(const grove_forest_t *f) { return grove__kernel_name(f); }

void grove_forest_transform(const grove_forest_t *f, const float *margins, size_t nrows,
                            float *out) {
  if (!f->leaf64) {
    grove__transform_apply(f->info.transform, margins, nrows, f->info.num_groups, out);
    return;
  }
  /* LightGBM computes its transforms in double: widen each row (exact), then transform. */
  const uint32_t ng = f->info.num_groups;
  double m64[CHUNK_MARGINS];
  const size_t chunk = ng <= CHUNK_MARGINS ? CHUNK_MARGINS / ng : 0;
  if (chunk == 0) { /* more classes than a chunk: one row at a time, in place */
    for (size_t r = 0; r < nrows; r++)
      grove__transform_apply_row64(f->info.transform, f->average_over, margins + r * ng, NULL, ng,
                                   out + r * ng);
    return;
  }
  for (size_t r0 = 0; r0 < nrows; r0 += chunk) {
    const size_t n = nrows - r0 < chunk ? nrows - r0 : chunk;
    for (size_t i = 0; i < n * ng; i++) m64[i] = margins[r0 * ng + i];
    grove__transform_apply64(f->info.transform, f->average_over, m64, n, ng, out + r0 * ng);
  }
}

typedef struct {
  const grove_forest_t *forest;
  grove_kernel_fn kernel; /* NULL: ROWS64 through the exact walk */
  size_t scratch_bytes;   /* what the kernel needs */
  void *scratch;          /* NULL: on the stack of the thread that runs the slice */
  const float *rows;
  const double *rows64;
  size_t nrows;
  float *margins; /* float forests: nrows x num_groups */
  float *out;     /* nrows x width; may equal margins */
  double *out64;  /* leaf64 forests: NULL, or where the double margins go instead of OUT */
  int margin;
} slice_t;

/* A float forest's slice: margins in float, then the transform. */
static void slice_float(const slice_t *s, void *scratch) {
  const grove_forest_info_t *info = &s->forest->info;
  const uint32_t ng = info->num_groups;
  for (size_t r = 0; r < s->nrows; r++)
    memcpy(s->margins + r * ng, s->forest->base_margins, ng * sizeof(float));
  s->kernel(s->forest, s->rows, s->nrows, (grove_margins_t){.f32 = s->margins}, scratch);
  if (!s->margin)
    grove__transform_apply(info->transform, s->margins, s->nrows, ng, s->out);
  else if (s->out != s->margins)
    memcpy(s->out, s->margins, s->nrows * ng * sizeof(float));
}

/* Rows [R0, R0 + N) of a leaf64 slice into the double margins M, then rounded to OUT. */
static void chunk64(const slice_t *s, size_t r0, size_t n, double *m, void *scratch) {
  const grove_forest_t *f = s->forest;
  const uint32_t ng = f->info.num_groups, nf = f->info.num_features;
  for (size_t r = 0; r < n; r++)
    for (uint32_t g = 0; g < ng; g++) m[r * ng + g] = f->base_margins[g];
  if (s->kernel != NULL)
    s->kernel(f, s->rows + r0 * nf, n, (grove_margins_t){.f64 = m}, scratch);
  else
    grove__predict_exact(f, s->rows64 + r0 * nf, n, m);
  if (s->out64 != NULL) {
    memcpy(s->out64 + r0 * ng, m, n * ng * sizeof *m);
    return;
  }
  float *out = s->out + r0 * ng;
  if (s->margin)
    for (size_t i = 0; i < n * ng; i++) out[i] = (float)m[i];
  else
    grove__transform_apply64(f->info.transform, f->average_over, m, n, ng, out);
}

/* A leaf64 forest's slice: chunks of rows whose double margins fit the stack. */
static void slice_leaf64(const slice_t *s, void *scratch) {
  const uint32_t ng = s->forest->info.num_groups;
  if (ng > CHUNK_MARGINS) { /* more classes than a chunk holds: one row at a time */
    double *m = malloc(ng * sizeof *m);
    for (size_t r = 0; r < s->nrows && m != NULL; r++) chunk64(s, r, 1, m, scratch);
    if (m == NULL) /* nothing sensible to return: NaN says so */
      for (size_t i = 0; i < s->nrows * ng; i++) s->out[i] = NAN;
    free(m);
    return;
  }
  double m[CHUNK_MARGINS];
  const size_t chunk = CHUNK_MARGINS / ng;
  for (size_t r0 = 0; r0 < s->nrows; r0 += chunk)
    chunk64(s, r0, s->nrows - r0 < chunk ? s->nrows - r0 : chunk, m, scratch);
}

static void *predict_slice(void *arg) {
  const slice_t *s = arg;
  _Alignas(GROVE_KERNEL_SCRATCH_ALIGN) unsigned char stack_scratch[STACK_SCRATCH_BYTES];
  void *scratch = s->scratch != NULL ? s->scratch : s->scratch_bytes > 0 ? stack_scratch : NULL;
  if (s->forest->leaf64)
    slice_leaf64(s, scratch);
  else
    slice_float(s, scratch);
  return NULL;
}

static void predict_part(void *slices, uint32_t i) { predict_slice((slice_t *)slices + i); }

/*
 * Scores NROWS rows, float (ROWS) or double (ROWS64, leaf64 forests: the exact walk),
 * split over THREADS slices, into OUT (width columns). MARGINS is where float forests sum.
 */
static grove_err_t run_slices(const grove_forest_t *f, const float *rows, const double *rows64,
                              size_t nrows, float *margins, float *out, double *out64, int margin,
                              uint32_t threads, grove_error_t *err) {
  const uint32_t ng = f->info.num_groups, nf = f->info.num_features;
  const uint32_t width = grove_forest_output_width(f, margin);
  size_t max_useful = nrows / MIN_ROWS_PER_THREAD;
  if (threads > max_useful) threads = max_useful ? (uint32_t)max_useful : 1;
  slice_t slices[MAX_THREADS];
  pthread_t tids[MAX_THREADS];
  size_t per = nrows / threads, extra = nrows % threads, start = 0, heap_scratch = 0;
  const grove_kernel_t *kernel = grove__kernel_get();
  for (uint32_t i = 0; i < threads; i++) {
    size_t n = per + (i < extra);
    const grove_kernel_fn fn = rows64 != NULL ? NULL : kernel->choose(f, n);
    slices[i] = (slice_t){.forest = f,
                          .kernel = fn,
                          .scratch_bytes = fn ? grove__kernel_scratch_bytes(fn, f) : 0,
                          .rows = rows ? rows + start * nf : NULL,
                          .rows64 = rows64 ? rows64 + start * nf : NULL,
                          .nrows = n,
                          .margins = margins ? margins + start * ng : NULL,
                          .out = out ? out + start * width : NULL,
                          .out64 = out64 ? out64 + start * ng : NULL,
                          .margin = margin};
    if (slices[i].scratch_bytes > STACK_SCRATCH_BYTES) heap_scratch += slices[i].scratch_bytes;
    start += n;
  }
  /* Scratch too large for a stack: one block for every slice that needs it. */
  unsigned char *kernel_scratch = NULL;
  if (heap_scratch > 0) {
    kernel_scratch = aligned_alloc(GROVE_KERNEL_SCRATCH_ALIGN, heap_scratch);
    if (kernel_scratch == NULL)
      return grove__error_set(err, GROVE_ENOMEM,
                              "out of memory for the kernel's scratch (%zu bytes)", heap_scratch);
    size_t at = 0;
    for (uint32_t i = 0; i < threads; i++) {
      if (slices[i].scratch_bytes <= STACK_SCRATCH_BYTES) continue;
      slices[i].scratch = kernel_scratch + at;
      at += slices[i].scratch_bytes;
    }
  }
  /* On the engine's helpers; when another call holds them, batches large enough start threads
   * of their own (slice 0 runs on the calling thread, a thread that cannot start runs here
   * too), smaller ones run here. */
  if (threads > 1 && grove__pool_run(predict_part, slices, threads)) {
    free(kernel_scratch);
    return GROVE_OK;
  }
  uint32_t started = 1;
  for (uint32_t i = 1; i < threads && nrows / MIN_ROWS_PER_THREAD_START > i; i++) {
    if (pthread_create(&tids[i], NULL, predict_slice, &slices[i]) != 0) break;
    started++;
  }
  predict_slice(&slices[0]);
  for (uint32_t i = started; i < threads; i++) predict_slice(&slices[i]);
  for (uint32_t i = 1; i < started; i++) pthread_join(tids[i], NULL);
  free(kernel_scratch);
  return GROVE_OK;
}

/* Checks a batch's arguments; *THREADS gets the option's thread count, within bounds. */
static grove_err_t check_batch(const grove_forest_t *f, const void *rows, size_t nrows,
                               const float *out, const grove_predict_opts_t *opts,
                               uint32_t *threads, grove_error_t *err) {
  *threads = opts && opts->threads > 1 ? opts->threads : 1;
  if (*threads > MAX_THREADS) *threads = MAX_THREADS;
  if (rows == NULL || out == NULL)
    return grove__error_set(err, GROVE_EINVAL, "rows and out must not be NULL");
  const size_t row_bytes = (size_t)f->info.num_features * sizeof(double);
  if (nrows > SIZE_MAX / sizeof(double) / f->info.num_groups ||
      (row_bytes && nrows > SIZE_MAX / row_bytes))
    return grove__error_set(err, GROVE_EINVAL, "batch of %zu rows is too large", nrows);
  return GROVE_OK;
}

grove_err_t grove_forest_predict(const grove_forest_t *f, const float *rows, size_t nrows,
                                 float *out, const grove_predict_opts_t *opts, grove_error_t *err) {
  const int margin = opts ? opts->margin : 0;
  uint32_t threads;
  if (nrows == 0) return GROVE_OK;
  grove_err_t rc = check_batch(f, rows, nrows, out, opts, &threads, err);
  if (rc != GROVE_OK) return rc;
  const uint32_t ng = f->info.num_groups;
  /* Float margins go straight into OUT unless the transform narrows them (argmax). */
  float *margins = out, *margin_buf = NULL;
  if (!f->leaf64 && grove_forest_output_width(f, margin) != ng) {
    margin_buf = malloc(nrows * ng * sizeof *margin_buf);
    if (margin_buf == NULL)
      return grove__error_set(err, GROVE_ENOMEM, "out of memory for %zu rows", nrows);
    margins = margin_buf;
  }
  rc =
      run_slices(f, rows, NULL, nrows, f->leaf64 ? NULL : margins, out, NULL, margin, threads, err);
  free(margin_buf);
  return rc;
}

/* Rows of doubles through grove_forest_input_value(), a chunk at a time (float forests). */
#define F64_CHUNK_ROWS   4096
#define F64_STACK_FLOATS 1024

grove_err_t grove_forest_predict_f64(const grove_forest_t *f, const double *rows, size_t nrows,
                                     float *out, const grove_predict_opts_t *opts,
                                     grove_error_t *err) {
  const int margin = opts ? opts->margin : 0;
  uint32_t threads;
  if (nrows == 0) return GROVE_OK;
  grove_err_t rc = check_batch(f, rows, nrows, out, opts, &threads, err);
  if (rc != GROVE_OK) return rc;
  const uint32_t nf = f->info.num_features, width = grove_forest_output_width(f, margin);
  /* Linear trees compute with the values: every row takes the exact walk. */
  if (f->num_linear_leaves)
    return run_slices(f, NULL, rows, nrows, NULL, out, NULL, margin, threads, err);
  const size_t chunk = nrows < F64_CHUNK_ROWS ? nrows : F64_CHUNK_ROWS;
  /* Small batches (a single row above all) convert on the stack: a malloc per call is a
   * measurable share of a one-row request. INEXACT marks the rows the float kernels cannot
   * decide, found while converting. */
  float small[F64_STACK_FLOATS];
  uint8_t small_inexact[F64_STACK_FLOATS];
  const int on_stack = chunk * nf <= F64_STACK_FLOATS && chunk <= F64_STACK_FLOATS;
  float *buf = on_stack ? small : malloc(chunk * nf * sizeof *buf + chunk);
  if (buf == NULL) return grove__error_set(err, GROVE_ENOMEM, "out of memory for %zu rows", chunk);
  uint8_t *inexact = on_stack ? small_inexact : (uint8_t *)(buf + chunk * nf);
  for (size_t r0 = 0; r0 < nrows && rc == GROVE_OK; r0 += chunk) {
    const size_t n = nrows - r0 < chunk ? nrows - r0 : chunk;
    size_t num_inexact = 0;
    for (size_t r = 0; r < n; r++) {
      int row_exact = 1;
      for (uint32_t j = 0; j < nf; j++) {
        int ok;
        buf[r * nf + j] = grove_forest_input_value(f, j, rows[(r0 + r) * nf + j], &ok);
        row_exact &= ok;
      }
      inexact[r] = !row_exact;
      num_inexact += !row_exact;
    }
    rc = grove_forest_predict(f, buf, n, out + r0 * width, opts, err);
    /* The rows no float row decides as LightGBM does: walked again in double. */
    for (size_t r = 0; r < n && num_inexact > 0 && rc == GROVE_OK; r++)
      if (inexact[r])
        rc = run_slices(f, NULL, rows + (r0 + r) * nf, 1, NULL, out + (r0 + r) * width, NULL,
                        margin, 1, err);
  }
  if (!on_stack) free(buf);
  return rc;
}

grove_err_t grove_forest_predict_margins64(const grove_forest_t *f, const float *rows, size_t nrows,
                                           double *margins, const grove_predict_opts_t *opts,
                                           grove_error_t *err) {
  uint32_t threads;
  if (nrows == 0) return GROVE_OK;
  grove_err_t rc = check_batch(f, rows, nrows, (const float *)margins, opts, &threads, err);
  if (rc != GROVE_OK) return rc;
  if (f->leaf64) return run_slices(f, rows, NULL, nrows, NULL, NULL, margins, 1, threads, err);
  /* Float sums: scored into the first half of MARGINS as floats, then widened from the
   * end, where each double only covers floats already read. */
  const size_t n = nrows * f->info.num_groups;
  float *m32 = (float *)margins;
  grove_predict_opts_t o = {.margin = 1, .threads = threads};
  if ((rc = grove_forest_predict(f, rows, nrows, m32, &o, err)) != GROVE_OK) return rc;
  for (size_t i = n; i-- > 0;) margins[i] = (double)m32[i];
  return GROVE_OK;
}

void grove_forest_transform64(const grove_forest_t *f, const double *margins, size_t nrows,
                              float *out) {
  const uint32_t ng = f->info.num_groups, width = f->info.num_outputs;
  if (f->leaf64) {
    for (size_t r = 0; r < nrows; r++)
      grove__transform_apply_row64(f->info.transform, f->average_over, NULL, margins + r * ng, ng,
                                   out + r * width);
    return;
  }
  /* Float sums widened: narrowing them back is exact; then XGBoost's float transforms. A
   * row wider than the stack buffer is narrowed on the heap (NaN if even that fails). */
  float stack[CHUNK_MARGINS];
  float *m32 = ng <= CHUNK_MARGINS ? stack : malloc(ng * sizeof *m32);
  for (size_t r = 0; r < nrows; r++) {
    if (m32 == NULL) {
      for (uint32_t g = 0; g < width; g++) out[r * width + g] = NAN;
      continue;
    }
    for (uint32_t g = 0; g < ng; g++) m32[g] = (float)margins[r * ng + g];
    grove__transform_apply(f->info.transform, m32, 1, ng, out + r * width);
  }
  if (m32 != stack) free(m32);
}
