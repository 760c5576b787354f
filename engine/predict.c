/*
 * Batches: base margins, the kernel, the output transform, and splitting over threads.
 * The kernels' scratch comes from here (a stack buffer, or one allocation per call for
 * wide rows), so that no kernel allocates and none falls back to another when memory is
 * short: grove_forest_predict() reports GROVE_ENOMEM instead.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "error.h"
#include "kernels.h"
#include "objective.h"

/* Below this many rows per thread, starting a thread costs more than it saves. */
#define MIN_ROWS_PER_THREAD 512
#define MAX_THREADS         256

/*
 * Batches smaller than this go to the kernel that walks one row through many trees at
 * once; larger ones to the kernel that walks many rows through one tree (bench/RESULTS.md,
 * "Engine kernels"). Both are exact, so the choice never changes a result.
 */
#define AVX2_ROWS_MIN         32
#define AVX512_ROWS_MIN       32
/* With top tables the avx512 rows kernel walks a block of 16 rows through 4 trees at once,
 * and against a trees kernel walking the 6-level tables it wins from fewer rows still
 * (income's figures by batch size are in bench/RESULTS.md). */
#define AVX512_TOPS_ROWS_MIN  12
#define AVX512_TOPS6_ROWS_MIN 7

/* Kernel scratch up to this size lives on the stack of the thread running the slice:
 * the avx512 rows kernel's block for rows of up to 64 features. */
#define STACK_SCRATCH_BYTES 16384

static grove_kernel_t kernel_in_use;
static const char *kernel_note;
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

static grove_kernel_fn choose_scalar(const grove_forest_t *f, size_t nrows) {
  (void)f;
  (void)nrows;
  return grove__predict_scalar;
}

#ifdef GROVE_HAVE_X86_KERNELS
static grove_kernel_fn choose_avx2(const grove_forest_t *f, size_t nrows) {
  if (!grove__simd_fits(f)) return grove__predict_scalar;
  return nrows < AVX2_ROWS_MIN ? grove__predict_avx2_trees : grove__predict_avx2_rows;
}

static grove_kernel_fn choose_avx512(const grove_forest_t *f, size_t nrows) {
  if (!grove__simd_fits(f)) return grove__predict_scalar;
  const size_t rows_min = grove__avx512_trees_walk_tops6(f) ? AVX512_TOPS6_ROWS_MIN
                          : f->tops                         ? AVX512_TOPS_ROWS_MIN
                                                            : AVX512_ROWS_MIN;
  return nrows < rows_min ? grove__predict_avx512_trees : grove__predict_avx512_rows;
}
#endif

size_t grove__kernel_scratch_bytes(grove_kernel_fn kernel, const grove_forest_t *f) {
#ifdef GROVE_HAVE_X86_KERNELS
  if (kernel == grove__predict_avx512_rows) return grove__avx512_rows_scratch_bytes(f);
#else
  (void)kernel;
  (void)f;
#endif
  return 0;
}

/* The scalar kernel, then upgrades with an early return per ISA (dav1d's *_init shape). */
static void kernel_init(void) {
  kernel_in_use =
      (grove_kernel_t){.name = "scalar-blocked", .isa = "scalar", .choose = choose_scalar};
  const grove_isa_t isa = grove__cpu_isa(&kernel_note);
#ifdef GROVE_HAVE_X86_KERNELS
  if (isa < GROVE_ISA_AVX2) return;
  kernel_in_use =
      (grove_kernel_t){.name = "avx2-trees/avx2-rows", .isa = "avx2", .choose = choose_avx2};
  if (isa < GROVE_ISA_AVX512) return;
  kernel_in_use = (grove_kernel_t){
      .name = "avx512-trees/avx512-rows", .isa = "avx512", .choose = choose_avx512};
#else
  (void)isa;
#endif
}

const grove_kernel_t *grove__kernel_get(void) {
  pthread_once(&kernel_once, kernel_init);
  return &kernel_in_use;
}

const char *grove_engine_isa(void) { return grove__kernel_get()->isa; }
const char *grove_engine_kernel(void) { return grove__kernel_get()->name; }

const char *grove_engine_isa_note(void) {
  grove__kernel_get();
  return kernel_note;
}

void grove_forest_transform(const grove_forest_t *f, const float *margins, size_t nrows,
                            float *out) {
  grove__transform_apply(f->info.transform, margins, nrows, f->info.num_groups, out);
}

typedef struct {
  const grove_forest_t *forest;
  grove_kernel_fn kernel;
  size_t scratch_bytes; /* what the kernel needs */
  void *scratch;        /* NULL: on the stack of the thread that runs the slice */
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
  _Alignas(GROVE_KERNEL_SCRATCH_ALIGN) unsigned char stack_scratch[STACK_SCRATCH_BYTES];
  void *scratch = s->scratch != NULL ? s->scratch : s->scratch_bytes > 0 ? stack_scratch : NULL;
  for (size_t r = 0; r < s->nrows; r++)
    memcpy(s->margins + r * ng, s->forest->base_margins, ng * sizeof(float));
  s->kernel(s->forest, s->rows, s->nrows, s->margins, scratch);
  if (!s->margin)
    grove__transform_apply(info->transform, s->margins, s->nrows, ng, s->out);
  else if (s->out != s->margins)
    memcpy(s->out, s->margins, s->nrows * ng * sizeof(float));
  return NULL;
}

grove_err_t grove_forest_predict(const grove_forest_t *f, const float *rows, size_t nrows,
                                 float *out, const grove_predict_opts_t *opts, grove_error_t *err) {
  int margin = opts ? opts->margin : 0;
  uint32_t threads = opts && opts->threads > 1 ? opts->threads : 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (nrows == 0) return GROVE_OK;
  if (rows == NULL || out == NULL)
    return grove__error_set(err, GROVE_EINVAL, "rows and out must not be NULL");
  const uint32_t ng = f->info.num_groups;
  const uint32_t width = grove_forest_output_width(f, margin);
  if (nrows > SIZE_MAX / sizeof(float) / ng)
    return grove__error_set(err, GROVE_EINVAL, "batch of %zu rows is too large", nrows);

  /* Margins go straight into OUT unless the transform narrows them (argmax). */
  float *margins = out, *margin_buf = NULL;
  if (width != ng) {
    margin_buf = malloc(nrows * ng * sizeof *margin_buf);
    if (margin_buf == NULL)
      return grove__error_set(err, GROVE_ENOMEM, "out of memory for %zu rows", nrows);
    margins = margin_buf;
  }

  size_t max_useful = nrows / MIN_ROWS_PER_THREAD;
  if (threads > max_useful) threads = max_useful ? (uint32_t)max_useful : 1;
  slice_t slices[MAX_THREADS];
  pthread_t tids[MAX_THREADS];
  size_t per = nrows / threads, extra = nrows % threads, start = 0, heap_scratch = 0;
  const grove_kernel_t *kernel = grove__kernel_get();
  for (uint32_t i = 0; i < threads; i++) {
    size_t n = per + (i < extra);
    const grove_kernel_fn fn = kernel->choose(f, n);
    slices[i] = (slice_t){.forest = f,
                          .kernel = fn,
                          .scratch_bytes = grove__kernel_scratch_bytes(fn, f),
                          .rows = rows + start * f->info.num_features,
                          .nrows = n,
                          .margins = margins + start * ng,
                          .out = out + start * width,
                          .margin = margin};
    if (slices[i].scratch_bytes > STACK_SCRATCH_BYTES) heap_scratch += slices[i].scratch_bytes;
    start += n;
  }
  /* Scratch too large for a stack: one block for every slice that needs it. */
  unsigned char *kernel_scratch = NULL;
  if (heap_scratch > 0) {
    kernel_scratch = aligned_alloc(GROVE_KERNEL_SCRATCH_ALIGN, heap_scratch);
    if (kernel_scratch == NULL) {
      free(margin_buf);
      return grove__error_set(err, GROVE_ENOMEM,
                              "out of memory for the kernel's scratch (%zu bytes)", heap_scratch);
    }
    size_t at = 0;
    for (uint32_t i = 0; i < threads; i++) {
      if (slices[i].scratch_bytes <= STACK_SCRATCH_BYTES) continue;
      slices[i].scratch = kernel_scratch + at;
      at += slices[i].scratch_bytes;
    }
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
  free(kernel_scratch);
  free(margin_buf);
  return GROVE_OK;
}
