/*
 * Deterministic mutation fuzzing inside the normal test suite (run under gcc ASan+UBSan
 * in CI): every fixture is mutated many times -- bit flips, inserted and deleted bytes,
 * numbers replaced by extreme values, duplicated spans, truncation -- and loaded. Each
 * load must either fail cleanly (EPARSE/EUNSUPPORTED, a message naming the input, no
 * forest) or give a forest that predicts on synthesized and extreme rows. The sanitizers
 * turn any out-of-bounds walk into a failure; the counts prove both outcomes happened.
 * The same is done to CSV input through csv_rows_read().
 *
 * Environment: GROVE_MUTATE_SEED (default fixed), GROVE_MUTATE_ITERS (per fixture), and
 * GROVE_MUTATE_SAVE=PATH writes each input to PATH before it is loaded, so that the
 * input of a crash is left behind for reproduction.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_rows.h"
#include "grove_engine.h"
#include "test.h"

#ifndef GROVE_SOURCE_ROOT
#error "GROVE_SOURCE_ROOT must name the source tree (tests/meson.build defines it)"
#endif

#define FIXTURE_DIR   GROVE_SOURCE_ROOT "/tests/fixtures/"
#define DEFAULT_SEED  0x67726f7665ull /* "grove" */
/* About 1 s per input under gcc ASan -O0 on one core: the whole test stays under 20 s. */
#define DEFAULT_ITERS 4000
#define INPUT_NAME    "mutant"

static uint64_t rng_state;
static const char *save_path;

/* splitmix64: tiny, seedable, and the same on every platform. */
static uint64_t next_random(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static size_t random_below(size_t n) { return n ? (size_t)(next_random() % n) : 0; }

static uint64_t env_u64(const char *name, uint64_t fallback) {
  const char *s = getenv(name);
  if (s == NULL || *s == '\0') return fallback;
  return strtoull(s, NULL, 0);
}

/* ---- a growable byte buffer and the mutations ---- */

typedef struct {
  char *data;
  size_t len, cap;
} buffer_t;

static void buffer_reserve(buffer_t *b, size_t need) {
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  b->data = realloc(b->data, cap);
  if (b->data == NULL) {
    printf("Bail out! out of memory\n");
    exit(1);
  }
  b->cap = cap;
}

static void buffer_set(buffer_t *b, const char *data, size_t len) {
  buffer_reserve(b, len);
  memcpy(b->data, data, len);
  b->len = len;
}

/* Replaces [at, at + remove) with INSERT (INSERT_LEN bytes). */
static void buffer_splice(buffer_t *b, size_t at, size_t remove, const char *insert,
                          size_t insert_len) {
  if (at > b->len) at = b->len;
  if (remove > b->len - at) remove = b->len - at;
  buffer_reserve(b, b->len - remove + insert_len);
  memmove(b->data + at + insert_len, b->data + at + remove, b->len - at - remove);
  memcpy(b->data + at, insert, insert_len);
  b->len = b->len - remove + insert_len;
}

/* Values that sit on the edges of the loader's checks and of float32/int32/int64. */
static const char *const extreme_numbers[] = {
    "-1",
    "0",
    "-0",
    "1",
    "2",
    "7",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "16777216",
    "16777215",
    "1e39",
    "-1e39",
    "1e-46",
    "3.4028235e38",
    "NaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "1.5",
    "0.5",
    "1e308",
    "1e999",
    "\"3\"",
    "\"\"",
    "null",
    "true",
    "[]",
    "{}",
};

/* Bytes worth inserting: JSON punctuation, number parts, UBJSON markers, NUL. */
static const char structural_bytes[] = "{}[],:\"-+.0123456789eENaLliIU$#SdDZTF\\\n \0\xff\x7f";

static const char csv_bytes[] = ",,\"\"\n\r\n \t-+.0123456789eEnaNA\0\xff";

static int is_number_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Finds the number at or after a random position and replaces it by an extreme value. */
static void mutate_number(buffer_t *b) {
  size_t at = random_below(b->len);
  while (at < b->len && !(b->data[at] >= '0' && b->data[at] <= '9')) at++;
  if (at == b->len) return;
  size_t start = at, end = at;
  while (start > 0 && is_number_char(b->data[start - 1])) start--;
  while (end < b->len && is_number_char(b->data[end])) end++;
  const char *v = extreme_numbers[random_below(sizeof extreme_numbers / sizeof extreme_numbers[0])];
  buffer_splice(b, start, end - start, v, strlen(v));
}

/* Overwrites 1, 2, 4 or 8 bytes with an edge value: UBJSON lengths are big-endian ints. */
static void mutate_binary_int(buffer_t *b) {
  static const uint8_t edges[] = {0x00, 0xff, 0x7f, 0x80, 0x01};
  size_t width = (size_t)1 << random_below(4);
  if (b->len < width) return;
  size_t at = random_below(b->len - width + 1);
  uint8_t lead = edges[random_below(sizeof edges)], fill = random_below(2) ? 0x00 : 0xff;
  b->data[at] = (char)lead;
  for (size_t i = 1; i < width; i++) b->data[at + i] = (char)fill;
}

static void mutate(buffer_t *b, const char *alphabet, size_t alphabet_len) {
  switch (random_below(10)) {
    case 0: /* flip one bit */
      if (b->len) b->data[random_below(b->len)] ^= (char)(1u << random_below(8));
      break;
    case 1: { /* insert 1..4 bytes */
      char bytes[4];
      size_t n = 1 + random_below(4);
      for (size_t i = 0; i < n; i++) bytes[i] = alphabet[random_below(alphabet_len)];
      buffer_splice(b, random_below(b->len + 1), 0, bytes, n);
      break;
    }
    case 2: /* delete 1..16 bytes */
      buffer_splice(b, random_below(b->len), 1 + random_below(16), "", 0);
      break;
    case 3: /* overwrite one byte */
      if (b->len) b->data[random_below(b->len)] = alphabet[random_below(alphabet_len)];
      break;
    case 4:
    case 5:
      mutate_number(b);
      break;
    case 6: { /* change one digit */
      size_t at = random_below(b->len);
      while (at < b->len && !(b->data[at] >= '0' && b->data[at] <= '9')) at++;
      if (at < b->len) b->data[at] = (char)('0' + random_below(10));
      break;
    }
    case 7: { /* duplicate a span of up to 64 bytes somewhere else */
      if (b->len == 0) break;
      size_t from = random_below(b->len), n = 1 + random_below(64);
      if (n > b->len - from) n = b->len - from;
      char span[64];
      memcpy(span, b->data + from, n);
      buffer_splice(b, random_below(b->len + 1), 0, span, n);
      break;
    }
    case 8:
      mutate_binary_int(b);
      break;
    case 9: /* truncate, mostly near the end where the document almost closes */
      if (b->len)
        b->len = random_below(2) ? random_below(b->len)
                                 : b->len - 1 - random_below(b->len < 8 ? b->len : 8);
      break;
  }
}

static void save_input(const buffer_t *b) {
  if (save_path == NULL) return;
  FILE *fp = fopen(save_path, "wb");
  if (fp == NULL) return;
  fwrite(b->data, 1, b->len, fp);
  fclose(fp);
}

static char *read_fixture(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, FIXTURE_DIR "%s", name);
  return test_read_file(path, len);
}

/* ---- the loader ---- */

typedef struct {
  size_t loaded, refused, walked;
  size_t bad_code, bad_message, forest_on_failure, predict_failed;
} load_outcomes_t;

/* Predicts synthesized rows and rows of one extreme value, with and without margins. */
static int walk_forest(const grove_forest_t *forest) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  /* A mutated num_feature may be large; such forests are not worth rows here. */
  if (info.num_features > 4096 || info.num_groups > 1024) return 0;
  enum { SYNTH = 6, EXTREME = 6, NROWS = SYNTH + EXTREME };
  const size_t nf = info.num_features;
  float *rows = malloc(NROWS * nf * sizeof *rows);
  float *out = malloc(NROWS * (size_t)info.num_groups * sizeof *out);
  grove_forest_synthesize_rows(forest, SYNTH, next_random(), rows);
  const float extremes[EXTREME] = {NAN, INFINITY, -INFINITY, -0.0f, 16777216.0f, -1.0f};
  for (size_t r = 0; r < EXTREME; r++)
    for (size_t j = 0; j < nf; j++) rows[(SYNTH + r) * nf + j] = extremes[r];
  int failed = 0;
  grove_error_t err;
  for (int margin = 0; margin <= 1; margin++) {
    grove_predict_opts_t opts = {.margin = margin};
    failed |= grove_forest_predict(forest, rows, NROWS, out, &opts, &err) != GROVE_OK;
  }
  free(rows);
  free(out);
  return failed ? -1 : 1;
}

static void load_one(const buffer_t *b, load_outcomes_t *o) {
  save_input(b);
  /* An exact-size heap copy: a read one byte past the input is an ASan report. */
  char *exact = malloc(b->len ? b->len : 1);
  memcpy(exact, b->data, b->len);
  grove_forest_t *forest = NULL;
  grove_error_t err;
  memset(&err, 0, sizeof err);
  grove_err_t rc = grove_forest_load_buffer(exact, b->len, INPUT_NAME, &forest, &err);
  free(exact);
  if (rc == GROVE_OK) {
    o->loaded++;
    int walked = walk_forest(forest);
    if (walked < 0) o->predict_failed++;
    if (walked > 0) o->walked++;
    grove_forest_free(forest);
    return;
  }
  o->refused++;
  if (forest != NULL) o->forest_on_failure++;
  if (rc != GROVE_EPARSE && rc != GROVE_EUNSUPPORTED) {
    if (o->bad_code++ < 3) printf("# unexpected code %s: %s\n", grove_err_name(rc), err.msg);
  }
  size_t prefix = strlen(INPUT_NAME ": ");
  if (strncmp(err.msg, INPUT_NAME ": ", prefix) != 0 || err.msg[prefix] == '\0') {
    if (o->bad_message++ < 3)
      printf("# message does not name the input and the problem: \"%s\"\n", err.msg);
  }
}

static void fuzz_fixture(const char *name, uint64_t seed, size_t iters) {
  size_t len;
  char *original = read_fixture(name, &len);
  /* Each fixture gets its own stream, so changing one fixture's count leaves the others'. */
  rng_state = seed;
  for (const char *p = name; *p; p++) rng_state = rng_state * 31 + (unsigned char)*p;
  load_outcomes_t o = {0};
  buffer_t b = {0};
  for (size_t i = 0; i < iters; i++) {
    buffer_set(&b, original, len);
    size_t n = 1 + random_below(3);
    for (size_t k = 0; k < n; k++) mutate(&b, structural_bytes, sizeof structural_bytes - 1);
    load_one(&b, &o);
  }
  printf("# %s: %zu mutants, %zu loaded (%zu walked), %zu refused\n", name, iters, o.loaded,
         o.walked, o.refused);
  char what[256];
  snprintf(what, sizeof what, "%s: some mutants still load", name);
  CHECK(o.loaded > 0, what);
  snprintf(what, sizeof what, "%s: some mutants are refused", name);
  CHECK(o.refused > 0, what);
  snprintf(what, sizeof what, "%s: loaded mutants were walked", name);
  CHECK(o.walked > 0, what);
  snprintf(what, sizeof what, "%s: every loaded mutant predicts", name);
  CHECK_EQ_INT(o.predict_failed, 0, what);
  snprintf(what, sizeof what, "%s: refusals are EPARSE or EUNSUPPORTED", name);
  CHECK_EQ_INT(o.bad_code, 0, what);
  snprintf(what, sizeof what, "%s: refusals name the input and the problem", name);
  CHECK_EQ_INT(o.bad_message, 0, what);
  snprintf(what, sizeof what, "%s: refusals return no forest", name);
  CHECK_EQ_INT(o.forest_on_failure, 0, what);
  free(b.data);
  free(original);
}

/* ---- CSV rows ---- */

typedef struct {
  const char *what;
  const char *model; /* fixture */
  const grove_schema_t *schema;
  const char *csv; /* a valid input to mutate */
} csv_case_t;

/* categorical.json's colour codes, in pandas' (sorted) category order. */
static char *colour_categories[] = {"blue", "cyan", "green", "magenta", "red"};
static grove_schema_feature_t categorical_features[2] = {
    {.name = "colour",
     .type = GROVE_FEATURE_CATEGORICAL,
     .categories = colour_categories,
     .num_categories = 5},
    {.name = "size", .type = GROVE_FEATURE_NUMERIC},
};
static const grove_schema_t categorical_schema = {.features = categorical_features,
                                                  .num_features = 2};

static const csv_case_t csv_cases[] = {
    {"csv by name", "binary_logistic.json", NULL,
     "alpha,beta,gamma,delta\n0.5,-1,2,3\n,NaN,NA,1e3\n\"1.5\",2,3,4\n-0,1e-3,7,nan\n"},
    {"csv by position", "multi_softprob.json", NULL, "a,b,c\n1,2,3\n4,5,6\n-0.5,,0.25\n"},
    {"csv with categories", "categorical.json", &categorical_schema,
     "size,colour\n0.5,red\n-1,cyan\n,\n2,\"blue\"\n0.3,magenta\n"},
};

static void fuzz_csv(const csv_case_t *c, uint64_t seed, size_t iters) {
  size_t len;
  char *json = read_fixture(c->model, &len);
  grove_forest_t *forest = NULL;
  grove_error_t err = {{0}};
  if (grove_forest_load_buffer(json, len, c->model, &forest, &err) != GROVE_OK) {
    printf("# %s\n", err.msg);
    CHECK(0, "csv: the fixture model loads");
    free(json);
    return;
  }
  free(json);
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  rng_state = seed ^ (uint64_t)strlen(c->csv) * 0x9E3779B97F4A7C15ull;
  size_t parsed = 0, refused = 0, bad = 0;
  buffer_t b = {0};
  for (size_t i = 0; i < iters; i++) {
    buffer_set(&b, c->csv, strlen(c->csv));
    size_t n = 1 + random_below(3);
    for (size_t k = 0; k < n; k++) mutate(&b, csv_bytes, sizeof csv_bytes - 1);
    save_input(&b);
    csv_rows_opts_t opts = {.forest = forest,
                            .schema = c->schema,
                            .ignore_extra = (int)random_below(2),
                            .categories = (grove_categories_t)random_below(3),
                            .per_row_errors = (int)random_below(2)};
    /* fmemopen refuses an empty buffer on some libcs: read /dev/null for that. */
    FILE *fp = b.len ? fmemopen(b.data, b.len, "r") : fopen("/dev/null", "r");
    if (fp == NULL) {
      bad++;
      continue;
    }
    csv_rows_t rows;
    memset(&err, 0, sizeof err);
    grove_err_t rc = csv_rows_read(fp, &opts, &rows, &err);
    fclose(fp);
    if (rc == GROVE_OK) {
      parsed++;
      float *out = malloc((rows.nrows ? rows.nrows : 1) * info.num_outputs * sizeof *out);
      if (rows.nrows > 0 &&
          (rows.values == NULL ||
           grove_forest_predict_f64(forest, rows.values, rows.nrows, out, NULL, &err) != GROVE_OK))
        bad++;
      free(out);
      csv_rows_free(&rows);
    } else {
      refused++;
      if (rows.values != NULL || err.msg[0] == '\0' || (rc != GROVE_EINPUT && rc != GROVE_EIO)) {
        if (bad++ < 3) printf("# bad refusal %s: \"%s\"\n", grove_err_name(rc), err.msg);
        csv_rows_free(&rows);
      }
    }
  }
  printf("# %s: %zu mutants, %zu parsed, %zu refused\n", c->what, iters, parsed, refused);
  char what[256];
  snprintf(what, sizeof what, "%s: some mutants parse", c->what);
  CHECK(parsed > 0, what);
  snprintf(what, sizeof what, "%s: some mutants are refused", c->what);
  CHECK(refused > 0, what);
  snprintf(what, sizeof what, "%s: every outcome is clean (rows predict, refusals say why)",
           c->what);
  CHECK_EQ_INT(bad, 0, what);
  free(b.data);
  grove_forest_free(forest);
}

int main(void) {
  uint64_t seed = env_u64("GROVE_MUTATE_SEED", DEFAULT_SEED);
  size_t iters = (size_t)env_u64("GROVE_MUTATE_ITERS", DEFAULT_ITERS);
  save_path = getenv("GROVE_MUTATE_SAVE");
  if (save_path != NULL && *save_path == '\0') save_path = NULL;
  printf("# seed %#llx, %zu iterations per input (GROVE_MUTATE_SEED, GROVE_MUTATE_ITERS)\n",
         (unsigned long long)seed, iters);
  const char *fixtures[] = {"binary_logistic.json", "multi_softprob.json",
                            "categorical.json",     "dart.json",
                            "binary_logistic.ubj",  "categorical.ubj"};
  for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++)
    fuzz_fixture(fixtures[i], seed, iters);
  for (size_t i = 0; i < sizeof csv_cases / sizeof csv_cases[0]; i++)
    fuzz_csv(&csv_cases[i], seed, iters);
  return test_done();
}
