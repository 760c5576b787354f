/* Batches: base margins, the kernel, the output transform, and splitting over threads. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "error.h"
#include "kernels.h"
#include "objective.h"

/* Below this many rows per thread, starting a thread costs more than it saves. */
#define MIN_ROWS_PER_THREAD 512
#define MAX_THREADS 256

/*
 * Batches smaller than this go to the kernel that walks one row through many trees at
 * once; larger ones to the kernel that walks many rows through one tree (bench/RESULTS.md,
 * "Engine kernels"). Both are exact, so the choice never changes a result.
 */
#define AVX2_ROWS_MIN 32
#define AVX512_ROWS_MIN 32
/* With top tables the avx512 rows kernel walks a block of 16 rows through 4 trees at once;
 * against a trees kernel walking the 6-level tables it wins from fewer rows (income, us/row
 * at batch 5 / 6 / 7 / 8: trees 2.0-2.4 / 2.0-2.4 / 1.9-2.5 / 2.0-2.4, rows 2.4-3.2 /
 * 2.0-2.6 / 1.7-2.2 / 1.5-2.0). */
#define AVX512_TOPS_ROWS_MIN 12
#define AVX512_TOPS6_ROWS_MIN 7

static grove_kernel_t kernel_in_use;
static const char *kernel_note;
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

#ifdef GROVE_HAVE_X86_KERNELS
static void predict_avx2(const grove_forest_t *f, const float *rows, size_t nrows, float *margins) {
  if (!grove_simd_fits(f)) grove_predict_scalar(f, rows, nrows, margins);
  else if (nrows < AVX2_ROWS_MIN) grove_predict_avx2_trees(f, rows, nrows, margins);
  else grove_predict_avx2_rows(f, rows, nrows, margins);
}

static void predict_avx512(const grove_forest_t *f, const float *rows, size_t nrows, float *margins) {
  if (!grove_simd_fits(f)) grove_predict_scalar(f, rows, nrows, margins);
  else if (nrows < (grove_avx512_trees_walk_tops6(f) ? AVX512_TOPS6_ROWS_MIN
                    : f->tops                         ? AVX512_TOPS_ROWS_MIN
                                                      : AVX512_ROWS_MIN))
    grove_predict_avx512_trees(f, rows, nrows, margins);
  else
    grove_predict_avx512_rows(f, rows, nrows, margins);
}
#endif

/* The scalar kernel, then upgrades with an early return per ISA (dav1d's *_init shape). */
static void kernel_init(void) {
  kernel_in_use = (grove_kernel_t){.name = "scalar-blocked", .isa = "scalar",
                                   .predict = grove_predict_scalar};
  const grove_isa_t isa = grove_cpu_isa(&kernel_note);
#ifdef GROVE_HAVE_X86_KERNELS
  if (isa < GROVE_ISA_AVX2) return;
  kernel_in_use = (grove_kernel_t){.name = "avx2-trees/avx2-rows", .isa = "avx2", .predict = predict_avx2};
  if (isa < GROVE_ISA_AVX512) return;
  kernel_in_use = (grove_kernel_t){.name = "avx512-trees/avx512-rows", .isa = "avx512",
                                   .predict = predict_avx512};
#else
  (void)isa;
#endif
}

const grove_kernel_t *grove_kernel_get(void) {
  pthread_once(&kernel_once, kernel_init);
  return &kernel_in_use;
}

const char *grove_engine_isa(void) { return grove_kernel_get()->isa; }
const char *grove_engine_kernel(void) { return grove_kernel_get()->name; }

const char *grove_engine_isa_note(void) {
  grove_kernel_get();
  return kernel_note;
}

void grove_forest_transform(const grove_forest_t *f, const float *margins, size_t nrows, float *out) {
  grove_transform_apply(f->info.transform, margins, nrows, f->info.num_groups, out);
}

typedef struct {
  const grove_forest_t *forest;
  const grove_kernel_t *kernel;
  const float *rows;
  size_t nrows;
  float *margins; /* nrows x num_groups */
  float *out;     /* nrows x width; may equal margins */
  int margin;
} slice_t;

static void *predict_slice(void *arg) {
  const slice_t *s = arg;
  const grove_forest_info_t *info = &s->forest->info;
  const uint32_t ng = info->num_groups;
  for (size_t r = 0; r < s->nrows; r++) memcpy(s->margins + r * ng, s->forest->base_margins, ng * sizeof(float));
  s->kernel->predict(s->forest, s->rows, s->nrows, s->margins);
  if (!s->margin) grove_transform_apply(info->transform, s->margins, s->nrows, ng, s->out);
  else if (s->out != s->margins) memcpy(s->out, s->margins, s->nrows * ng * sizeof(float));
  return NULL;
}

grove_err_t grove_forest_predict(const grove_forest_t *f, const float *rows, size_t nrows,
                                 float *out, const grove_predict_opts_t *opts, grove_error_t *err) {
  int margin = opts ? opts->margin : 0;
  uint32_t threads = opts && opts->threads > 1 ? opts->threads : 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (nrows == 0) return GROVE_OK;
  if (rows == NULL || out == NULL) return grove_error_set(err, GROVE_EINVAL, "rows and out must not be NULL");
  const uint32_t ng = f->info.num_groups;
  const uint32_t width = grove_forest_output_width(f, margin);
  if (nrows > SIZE_MAX / sizeof(float) / ng)
    return grove_error_set(err, GROVE_EINVAL, "batch of %zu rows is too large", nrows);

  /* Margins go straight into OUT unless the transform narrows them (argmax). */
  float *margins = out, *scratch = NULL;
  if (width != ng) {
    scratch = malloc(nrows * ng * sizeof *scratch);
    if (scratch == NULL) return grove_error_set(err, GROVE_ENOMEM, "out of memory for %zu rows", nrows);
    margins = scratch;
  }

  size_t max_useful = nrows / MIN_ROWS_PER_THREAD;
  if (threads > max_useful) threads = max_useful ? (uint32_t)max_useful : 1;
  slice_t slices[MAX_THREADS];
  pthread_t tids[MAX_THREADS];
  size_t per = nrows / threads, extra = nrows % threads, start = 0;
  for (uint32_t i = 0; i < threads; i++) {
    size_t n = per + (i < extra);
    slices[i] = (slice_t){.forest = f, .kernel = grove_kernel_get(), .rows = rows + start * f->info.num_features,
                          .nrows = n, .margins = margins + start * ng, .out = out + start * width,
                          .margin = margin};
    start += n;
  }
  /* Slice 0 runs on the calling thread; a thread that cannot start runs here too. */
  uint32_t started = 1;
  for (uint32_t i = 1; i < threads; i++) {
    if (pthread_create(&tids[i], NULL, predict_slice, &slices[i]) != 0) break;
    started++;
  }
  predict_slice(&slices[0]);
  for (uint32_t i = started; i < threads; i++) predict_slice(&slices[i]);
  for (uint32_t i = 1; i < started; i++) pthread_join(tids[i], NULL);
  free(scratch);
  return GROVE_OK;
}
