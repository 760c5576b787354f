/*
 * Compiled model images (engine/image.c): a forest mapped from its image answers bit for
 * bit as the forest it was written from (every bundled and fixture model; meson runs this
 * once per ISA through GROVE_ISA); truncated, bit-flipped and forged images are refused,
 * never walked; stale images, cache directories (written, reused, corrupt, unwritable) and
 * image-only directories behave as grove_model_load_ex() says.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "grove_engine.h"
#include "image.h"
#include "kernels/forest.h"
#include "test.h"

#ifndef GROVE_SOURCE_ROOT
#define GROVE_SOURCE_ROOT "."
#endif

static char tmpdir[256];

/* A model file's bytes, gunzipped when its name ends in .gz. */
static char *read_model(const char *path, size_t *len) {
  const size_t n = strlen(path);
  if (n < 3 || strcmp(path + n - 3, ".gz") != 0) return test_read_file(path, len);
  gzFile gz = gzopen(path, "rb");
  size_t cap = 1 << 20, used = 0;
  char *buf = malloc(cap + 1);
  int got;
  while (gz != NULL && buf != NULL && (got = gzread(gz, buf + used, (unsigned)(cap - used))) > 0) {
    used += (size_t)got;
    if (used == cap) buf = realloc(buf, (cap *= 2) + 1);
  }
  if (gz == NULL || buf == NULL) {
    printf("Bail out! cannot read %s\n", path);
    exit(1);
  }
  gzclose(gz);
  buf[used] = '\0';
  *len = used;
  return buf;
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
    printf("Bail out! cannot write %s\n", path);
    exit(1);
  }
}

static int same_bytes(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* Every answer of A and B on the same rows, compared bit for bit. Returns the mismatches. */
static int compare_forests(const grove_forest_t *a, const grove_forest_t *b, const char *name) {
  char what[300];
  grove_forest_info_t ia, ib;
  grove_forest_get_info(a, &ia);
  grove_forest_get_info(b, &ib);
  int bad = 0;
  bad += strcmp(ia.format, ib.format) != 0 || strcmp(ia.objective, ib.objective) != 0 ||
         strcmp(ia.booster, ib.booster) != 0 || strcmp(ia.source_model, ib.source_model) != 0;
  bad += ia.num_features != ib.num_features || ia.num_trees != ib.num_trees ||
         ia.num_nodes != ib.num_nodes || ia.max_depth != ib.max_depth ||
         ia.memory_bytes != ib.memory_bytes || ia.num_outputs != ib.num_outputs ||
         ia.kernel_memory_bytes != ib.kernel_memory_bytes ||
         ia.task != ib.task || ia.transform != ib.transform ||
         ia.has_feature_names != ib.has_feature_names;
  for (uint32_t j = 0; j < ia.num_features; j++) {
    const char *na = grove_forest_feature_name(a, j), *nb = grove_forest_feature_name(b, j);
    bad += (na == NULL) != (nb == NULL) || (na != NULL && strcmp(na, nb) != 0);
    bad += grove_forest_feature_type(a, j) != grove_forest_feature_type(b, j);
    bad += grove_forest_category_bound(a, j) != grove_forest_category_bound(b, j);
  }
  snprintf(what, sizeof what, "%s: the image's summary and features are the source's", name);
  CHECK(bad == 0, what);

  const size_t nrows = 257, nf = ia.num_features ? ia.num_features : 1;
  float *rows = malloc(nrows * nf * sizeof *rows);
  double *rows64 = malloc(nrows * nf * sizeof *rows64);
  grove_forest_synthesize_rows(a, nrows, 17, rows);
  for (size_t i = 0; i < nrows * nf; i++) /* doubles between floats too: the exact walks */
    rows64[i] = (double)rows[i] + (i % 3 == 0 ? 1e-9 * (double)rows[i] : 0);
  const size_t width = (size_t)ia.num_groups + ia.num_outputs;
  float *pa = malloc(nrows * width * sizeof *pa), *pb = malloc(nrows * width * sizeof *pb);
  grove_error_t err;
  int rc = 0, mism = 0;
  for (int margin = 0; margin < 2; margin++) {
    const grove_predict_opts_t o = {.margin = margin};
    const size_t n = nrows * grove_forest_output_width(a, margin) * sizeof *pa;
    for (size_t batch = 1; batch <= nrows; batch += nrows - 1) { /* one row, then all */
      const size_t bn = batch * grove_forest_output_width(a, margin) * sizeof *pa;
      rc |= grove_forest_predict(a, rows, batch, pa, &o, &err);
      rc |= grove_forest_predict(b, rows, batch, pb, &o, &err);
      mism += !same_bytes(pa, pb, bn);
    }
    rc |= grove_forest_predict_f64(a, rows64, nrows, pa, &o, &err);
    rc |= grove_forest_predict_f64(b, rows64, nrows, pb, &o, &err);
    mism += !same_bytes(pa, pb, n);
  }
  for (uint32_t j = 0; j < ia.num_features; j++)
    for (size_t i = 0; i < 16; i++) {
      const double x = rows64[i * nf + j];
      int ea, eb;
      const float va = grove_forest_input_value(a, j, x, &ea),
                  vb = grove_forest_input_value(b, j, x, &eb);
      mism += !same_bytes(&va, &vb, sizeof va) || ea != eb;
    }
  snprintf(what, sizeof what,
           "%s: predictions (margins, outputs, float and double rows) bit-identical", name);
  CHECK(rc == 0 && mism == 0, what);

  const size_t crows = 33;
  uint32_t *la = malloc(crows * ia.num_trees * sizeof *la + 1),
           *lb = malloc(crows * ia.num_trees * sizeof *lb + 1);
  rc =
      grove_forest_leaves(a, rows, crows, la, &err) | grove_forest_leaves(b, rows, crows, lb, &err);
  mism = !same_bytes(la, lb, crows * ia.num_trees * sizeof *la);
  rc |= grove_forest_leaves_f64(a, rows64, crows, la, &err);
  rc |= grove_forest_leaves_f64(b, rows64, crows, lb, &err);
  mism += !same_bytes(la, lb, crows * ia.num_trees * sizeof *la);
  snprintf(what, sizeof what, "%s: leaf indexes identical", name);
  CHECK(rc == 0 && mism == 0, what);
  free(la);
  free(lb);

  const int explainable = grove_forest_explainable(a, &err) == GROVE_OK;
  snprintf(what, sizeof what, "%s: explainable as the source is (%d)", name, explainable);
  CHECK(explainable == (grove_forest_explainable(b, &err) == GROVE_OK), what);
  if (explainable) {
    const size_t cw = grove_forest_contribs_width(a);
    double *ca = malloc(crows * cw * sizeof *ca), *cb = malloc(crows * cw * sizeof *cb);
    rc = grove_forest_contribs(a, rows, crows, ca, &err) |
         grove_forest_contribs(b, rows, crows, cb, &err);
    mism = !same_bytes(ca, cb, crows * cw * sizeof *ca);
    rc |= grove_forest_contribs_f64(a, rows64, crows, ca, &err);
    rc |= grove_forest_contribs_f64(b, rows64, crows, cb, &err);
    mism += !same_bytes(ca, cb, crows * cw * sizeof *ca);
    snprintf(what, sizeof what, "%s: contributions bit-identical", name);
    CHECK(rc == 0 && mism == 0, what);
    free(ca);
    free(cb);
  }
  free(rows);
  free(rows64);
  free(pa);
  free(pb);
  return mism;
}

/* Loads the model at PATH from its bytes, writes its image, maps that and compares. */
static void test_round_trip(const char *path, const char *name) {
  size_t len;
  char *data = read_model(path, &len);
  grove_forest_t *src = NULL, *img = NULL;
  grove_error_t err;
  char what[300], image[512];
  snprintf(what, sizeof what, "%s: loads from its source", name);
  CHECK(grove_forest_load_buffer(data, len, path, &src, &err) == GROVE_OK, what);
  if (src == NULL) {
    printf("# %s\n", err.msg);
    free(data);
    return;
  }
  const grove_source_id_t id = grove_source_id_of(data, len);
  snprintf(image, sizeof image, "%s/%s.grove", tmpdir, name);
  snprintf(what, sizeof what, "%s: image written and mapped back", name);
  int ok = grove_forest_image_write(src, &id, image, &err) == GROVE_OK &&
           grove_forest_image_load(image, &id, &img, &err) == GROVE_OK;
  if (!ok) printf("# %s\n", err.msg);
  CHECK(ok, what);
  if (ok) {
    snprintf(what, sizeof what, "%s: the image is mapped (not copied)", name);
    CHECK(img->image_map != NULL && (const char *)img->nodes >= (const char *)img->image_map &&
              (const char *)img->nodes < (const char *)img->image_map + img->image_map_bytes,
          what);
    compare_forests(src, img, name);
  }
  grove_forest_free(src);
  grove_forest_free(img);
  free(data);
  unlink(image);
}

static void test_all_models(void) {
  static const char *const files[][2] = {
      {"models/income/model.json", "income"},
      {"models/income-sklearn/model.json", "income-sklearn"},
      {"tests/fixtures/binary_logistic.json", "binary_logistic"},
      {"tests/fixtures/binary_logistic.ubj", "binary_logistic_ubj"},
      {"tests/fixtures/categorical.json", "categorical"},
      {"tests/fixtures/categorical.ubj", "categorical_ubj"},
      {"tests/fixtures/dart.json", "dart"},
      {"tests/fixtures/multi_softprob.json", "multi_softprob"},
  };
  char path[1024];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", GROVE_SOURCE_ROOT, files[i][0]);
    test_round_trip(path, files[i][1]);
  }
  /* Every LightGBM fixture: double leaves and thresholds, linear trees, categorical sets. */
  const char *dir = GROVE_SOURCE_ROOT "/tests/lightgbm/fixtures";
  DIR *d = opendir(dir);
  CHECK(d != NULL, "the LightGBM fixtures are there");
  struct dirent *e;
  int n = 0;
  while (d != NULL && (e = readdir(d)) != NULL) {
    const char *suffix = ".model.txt.gz";
    const size_t len = strlen(e->d_name), sl = strlen(suffix);
    if (len <= sl || strcmp(e->d_name + len - sl, suffix) != 0) continue;
    char name[256];
    snprintf(name, sizeof name, "lgb_%.*s", (int)(len - sl), e->d_name);
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    test_round_trip(path, name);
    n++;
  }
  if (d != NULL) closedir(d);
  CHECK(n >= 10, "every LightGBM fixture compiled");
}

/* Writes the image of model PATH to OUT; returns its bytes (caller frees) and SRC. */
static char *image_of(const char *path, const char *out, size_t *len, grove_forest_t **src) {
  size_t n;
  char *data = read_model(path, &n);
  grove_error_t err;
  const grove_source_id_t id = grove_source_id_of(data, n);
  if (grove_forest_load_buffer(data, n, path, src, &err) != GROVE_OK ||
      grove_forest_image_write(*src, &id, out, &err) != GROVE_OK) {
    printf("Bail out! %s\n", err.msg);
    exit(1);
  }
  free(data);
  return test_read_file(out, len);
}

/* Scores a few rows with everything that walks the trees (ASan/UBSan watch the walks). */
static void exercise(const grove_forest_t *f) {
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  const size_t nrows = 20, nf = info.num_features ? info.num_features : 1;
  float *rows = malloc(nrows * nf * sizeof *rows);
  grove_forest_synthesize_rows(f, nrows, 3, rows);
  float *out = malloc(nrows * (info.num_groups + info.num_outputs) * sizeof *out);
  uint32_t *leaves = malloc(nrows * (info.num_trees + 1) * sizeof *leaves);
  grove_error_t err;
  grove_forest_predict(f, rows, nrows, out, NULL, &err);
  grove_forest_leaves(f, rows, nrows, leaves, &err);
  if (grove_forest_explainable(f, &err) == GROVE_OK) {
    double *c = malloc(nrows * grove_forest_contribs_width(f) * sizeof *c);
    grove_forest_contribs(f, rows, nrows, c, &err);
    free(c);
  }
  free(rows);
  free(out);
  free(leaves);
}

/* Truncated, extended and bit-flipped copies of a valid image: every one refused. */
static void test_corrupt(void) {
  char image[512], bad[512];
  snprintf(image, sizeof image, "%s/corrupt.grove", tmpdir);
  snprintf(bad, sizeof bad, "%s/bad.grove", tmpdir);
  size_t len;
  grove_forest_t *src = NULL, *f = NULL;
  char *data = image_of(GROVE_SOURCE_ROOT "/models/income-sklearn/model.json", image, &len, &src);
  grove_error_t err;
  const size_t first = grove__image_reseal(data, len); /* a no-op: it is sealed already */
  CHECK(first > 0 && grove_forest_image_load(image, NULL, &f, &err) == GROVE_OK,
        "the untouched image loads");
  grove_forest_free(f);

  const size_t cuts[] = {0, 1, 7, 8, 40, first - 1, first, first + 1, len / 2, len - 64, len - 1};
  int refused = 0, clear = 0;
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    write_file(bad, data, cuts[i]);
    f = NULL;
    const grove_err_t rc = grove_forest_image_load(bad, NULL, &f, &err);
    refused += rc != GROVE_OK && f == NULL;
    clear +=
        strstr(err.msg, bad) != NULL &&
        (strstr(err.msg, "truncated") || strstr(err.msg, "shorter") || strstr(err.msg, "empty"));
    if (rc == GROVE_OK) grove_forest_free(f);
  }
  CHECK_EQ_INT(refused, sizeof cuts / sizeof cuts[0], "every truncated image is refused");
  CHECK_EQ_INT(clear, sizeof cuts / sizeof cuts[0],
               "each refusal names the file and says truncated");
  char *longer = malloc(len + 64);
  memcpy(longer, data, len);
  memset(longer + len, 0, 64);
  write_file(bad, longer, len + 64);
  CHECK(grove_forest_image_load(bad, NULL, &f, &err) == GROVE_EPARSE,
        "an image with bytes appended is refused");
  free(longer);

  /* One bit flipped anywhere: the header's every byte, then every 61st byte of the rest. */
  int flips = 0;
  refused = 0;
  for (size_t pos = 0; pos < len; pos += pos < first ? 1 : 61) {
    data[pos] ^= (char)(1u << (pos % 8));
    write_file(bad, data, len);
    data[pos] ^= (char)(1u << (pos % 8));
    f = NULL;
    const grove_err_t rc = grove_forest_image_load(bad, NULL, &f, &err);
    refused += rc != GROVE_OK && f == NULL;
    if (rc == GROVE_OK) {
      printf("# a flip at byte %zu was not refused\n", pos);
      grove_forest_free(f);
    }
    flips++;
  }
  CHECK_EQ_INT(refused, flips, "every single-bit flip is refused (checksum, versions, sizes)");
  /* The steps above need not land on the last byte. */
  data[len - 1] ^= 0x80;
  write_file(bad, data, len);
  data[len - 1] ^= 0x80;
  f = NULL;
  CHECK(grove_forest_image_load(bad, NULL, &f, &err) != GROVE_OK && f == NULL,
        "a flip in the image's last byte is refused");
  grove_forest_free(f);
  data[first + 4] ^= 1;
  write_file(bad, data, len);
  data[first + 4] ^= 1;
  grove_forest_image_load(bad, NULL, &f, &err);
  CHECK_CONTAINS(err.msg, "checksum", "a flipped node says the checksum does not match");

  /* A format version from elsewhere: stale, not corrupt. */
  char *other = malloc(len);
  memcpy(other, data, len);
  other[GROVE_IMAGE_MAGIC_BYTES] ^= 0x40;
  write_file(bad, other, len);
  CHECK(grove_forest_image_load(bad, NULL, &f, &err) == GROVE_ESTALE,
        "another format version is stale");
  CHECK_CONTAINS(err.msg, "recompile", "and says to recompile it");

  /* Forged: the nodes broken and the checksum recomputed. The trees' checks refuse them. */
  grove_node_t node;
  memcpy(other, data, len);
  memcpy(&node, other + first, sizeof node);
  node.left = 0xfffffff0u;
  memcpy(other + first, &node, sizeof node);
  grove__image_reseal(other, len);
  write_file(bad, other, len);
  CHECK(grove_forest_image_load(bad, NULL, &f, &err) == GROVE_EPARSE,
        "a forged child index is refused");
  CHECK_CONTAINS(err.msg, "tree 0 node 0", "naming the tree and node");
  memcpy(other, data, len);
  node.left = 1;
  node.feature = 9999;
  memcpy(other + first, &node, sizeof node);
  grove__image_reseal(other, len);
  write_file(bad, other, len);
  CHECK(grove_forest_image_load(bad, NULL, &f, &err) == GROVE_EPARSE,
        "a forged feature index is refused");
  memcpy(other, data, len);
  other[len - 1] ^= 0x10; /* the last section's padding or bytes: caught by the checksum */
  grove__image_reseal(other, len);
  write_file(bad, other, len);
  f = NULL;
  if (grove_forest_image_load(bad, NULL, &f, &err) == GROVE_OK) exercise(f);
  grove_forest_free(f);

  /* Random bit flips after the header, resealed: refused, or (values that are only
   * values) scored without a fault. */
  uint64_t seed = 12345;
  int forged = 0, accepted = 0;
  for (int i = 0; i < 400; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const size_t pos = first + (size_t)(seed >> 33) % (len - first);
    memcpy(other, data, len);
    other[pos] ^= (char)(1u << ((seed >> 20) % 8));
    grove__image_reseal(other, len);
    write_file(bad, other, len);
    f = NULL;
    if (grove_forest_image_load(bad, NULL, &f, &err) == GROVE_OK) {
      exercise(f);
      grove_forest_free(f);
      accepted++;
    } else {
      forged++;
    }
  }
  printf("# forged flips: %d refused, %d accepted (values) and scored\n", forged, accepted);
  CHECK(forged > 0 && forged + accepted == 400, "forged images are refused or scored safely");
  CHECK(grove_forest_load_buffer(data, len, "x.grove", &f, &err) == GROVE_EINVAL,
        "an image given as a buffer is refused, saying to load its file");
  free(other);
  free(data);
  grove_forest_free(src);
  unlink(bad);
  unlink(image);
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  char *d = test_read_file(from, &len);
  write_file(to, d, len);
  free(d);
}

static int count_files(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL) {
    const size_t len = strlen(e->d_name), sl = strlen(suffix);
    n += len > sl && strcmp(e->d_name + len - sl, suffix) == 0;
  }
  if (d != NULL) closedir(d);
  return n;
}

/* grove_model_load_ex(): beside images, stale ones, the cache, image-only directories. */
static void test_model_dirs(void) {
  char dir[512], json[600], beside[600], cache[512], only[512], p[700];
  snprintf(dir, sizeof dir, "%s/m", tmpdir);
  snprintf(cache, sizeof cache, "%s/cache", tmpdir);
  snprintf(only, sizeof only, "%s/only", tmpdir);
  mkdir(dir, 0755);
  mkdir(cache, 0755);
  mkdir(only, 0755);
  snprintf(json, sizeof json, "%s/model.json", dir);
  snprintf(beside, sizeof beside, "%s/model.grove", dir);
  copy_file(GROVE_SOURCE_ROOT "/models/income-sklearn/model.json", json);
  snprintf(p, sizeof p, "%s/schema.json", dir);
  copy_file(GROVE_SOURCE_ROOT "/models/income-sklearn/schema.json", p);
  static grove_load_report_t rep;
  grove_forest_t *f = NULL, *built = NULL;
  grove_schema_t *s = NULL;
  grove_error_t err;

  CHECK(grove_model_load_ex(dir, NULL, &built, &s, &rep, &err) == GROVE_OK &&
            rep.image[0] == '\0' && rep.warning[0] == '\0' && strcmp(rep.file, json) == 0,
        "a directory without an image loads its source, naming the file");
  grove_schema_free(s);
  char want[600];
  CHECK(grove_model_image_path(json, want, sizeof want) == 0 && strcmp(want, beside) == 0,
        "the image beside model.json is model.grove");
  CHECK(grove_forest_image_write(built, &rep.source, beside, &err) == GROVE_OK, "compiled beside");
  CHECK(grove_model_load_ex(dir, NULL, &f, &s, &rep, &err) == GROVE_OK &&
            strcmp(rep.image, beside) == 0 && s != NULL && rep.warning[0] == '\0',
        "a current model.grove is mapped, and schema.json still read");
  if (f != NULL) compare_forests(built, f, "beside");
  grove_forest_free(f);
  grove_schema_free(s);

  /* The source changes (one more newline: the same model, another file): stale. */
  FILE *fp = fopen(json, "ab");
  fputc('\n', fp);
  fclose(fp);
  CHECK(grove_model_load_ex(dir, NULL, &f, &s, &rep, &err) == GROVE_OK && rep.image[0] == '\0',
        "a stale model.grove is not used");
  CHECK_CONTAINS(rep.warning, "another source", "and the warning says its source changed");
  grove_forest_free(f);
  grove_schema_free(s);

  /* The cache: written on the first load, mapped on the second. */
  grove_load_opts_t opts = {.cache_dir = cache, .cache_write = 1};
  CHECK(grove_model_load_ex(dir, &opts, &f, &s, &rep, &err) == GROVE_OK && rep.image[0] == '\0',
        "first load with a cache builds from the source");
  CHECK_EQ_INT(count_files(cache, ".grove"), 1, "and writes one image to the cache");
  CHECK_EQ_INT(count_files(cache, ".tmp"), 0, "leaving no temporary file");
  grove_forest_free(f);
  grove_schema_free(s);
  CHECK(grove_model_load_ex(dir, &opts, &f, &s, &rep, &err) == GROVE_OK &&
            strncmp(rep.image, cache, strlen(cache)) == 0,
        "second load maps the cache's image");
  char cached[4096];
  snprintf(cached, sizeof cached, "%s", rep.image);
  grove_forest_free(f);
  grove_schema_free(s);

  /* A corrupt cache image: refused with a warning, rebuilt, then used again. */
  size_t len;
  char *bytes = test_read_file(cached, &len);
  bytes[len / 2] ^= 0x55;
  write_file(cached, bytes, len);
  free(bytes);
  CHECK(grove_model_load_ex(dir, &opts, &f, &s, &rep, &err) == GROVE_OK && rep.image[0] == '\0',
        "a corrupt cache image is not used");
  CHECK_CONTAINS(rep.warning, "checksum", "the warning says why");
  grove_forest_free(f);
  grove_schema_free(s);
  CHECK(grove_model_load_ex(dir, &opts, &f, &s, &rep, &err) == GROVE_OK &&
            strcmp(rep.image, cached) == 0,
        "and the rebuilt one is mapped next time");
  grove_forest_free(f);
  grove_schema_free(s);

  /* An unwritable cache (its parent is missing): the model loads, with a warning. */
  char missing[600];
  snprintf(missing, sizeof missing, "%s/no/such/dir", tmpdir);
  grove_load_opts_t nowhere = {.cache_dir = missing, .cache_write = 1};
  CHECK(grove_model_load_ex(dir, &nowhere, &f, &s, &rep, &err) == GROVE_OK && f != NULL,
        "a cache that cannot be written never fails the load");
  CHECK_CONTAINS(rep.warning, "cannot write", "it is a warning");
  grove_forest_free(f);
  grove_schema_free(s);

  /* A directory holding only model.grove (and schema.json) is a model. */
  snprintf(p, sizeof p, "%s/model.grove", only);
  copy_file(cached, p);
  snprintf(p, sizeof p, "%s/schema.json", only);
  copy_file(GROVE_SOURCE_ROOT "/models/income-sklearn/schema.json", p);
  CHECK(grove_model_dir_has_model(only), "a directory holding model.grove is a model directory");
  CHECK(grove_model_load_ex(only, NULL, &f, &s, &rep, &err) == GROVE_OK && rep.image[0] != '\0' &&
            s != NULL,
        "an image-only directory loads its image and its schema");
  if (f != NULL) compare_forests(built, f, "image-only");
  grove_forest_free(f);
  grove_schema_free(s);
  /* Both ways a model is named on the command line: the directory, and its model.grove. */
  char name[64], image_name[64];
  snprintf(p, sizeof p, "%s/model.grove", only);
  grove_model_name_from_path(only, name, sizeof name);
  grove_model_name_from_path(p, image_name, sizeof image_name);
  CHECK(strcmp(name, "only") == 0 && strcmp(image_name, "only") == 0,
        "an image-only directory, and its model.grove, are named after the directory");
  grove_forest_free(built);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/grove-test-image-XXXXXX");
  if (mkdtemp(tmpdir) == NULL) {
    printf("Bail out! mkdtemp\n");
    return 1;
  }
  printf("# isa %s\n", grove_engine_isa());
  /* Run once per ISA (tests/meson.build): a CPU without the one asked for would run another's
   * kernels under this one's name. */
  const char *want = getenv("GROVE_ISA");
  if (want != NULL && strcmp(want, grove_engine_isa()) != 0) {
    char why[128];
    snprintf(why, sizeof why, "GROVE_ISA=%s, but this CPU runs %s kernels", want,
             grove_engine_isa());
    CHECK_CANNOT_RUN_ISA("images load, map and score with the kernels of GROVE_ISA", want, why);
    return test_done();
  }
  test_all_models();
  test_corrupt();
  test_model_dirs();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
  return test_done();
}
