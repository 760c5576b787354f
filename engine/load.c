/*
 * The one loading entry. A model's bytes are sniffed for their format and handed to that
 * format's loader (load.h); a path is resolved to its model file (a model directory holds
 * one of model_files[]); a directory's schema.json is loaded and checked against its
 * model, and without one a LightGBM model's pandas_categorical trailer supplies the schema.
 * The model file names live here and nowhere else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "file.h"
#include "image.h"
#include "load.h"

/*
 * A model directory's model file: the first of these that exists. model.ubj is XGBoost
 * 2.x's default, model.txt LightGBM's; model.bst is what KServe's xgboost and lightgbm
 * runtimes look for (LightGBM text, or XGBoost JSON/UBJSON or legacy binary, told apart by
 * their bytes). model.grove, a compiled image (image.c), comes last: beside a source it is
 * found through the source (grove_model_image_path), alone it is the model. Their
 * extensions are also the ones a model's served name drops (grove_model_name_from_path).
 */
static const char *const model_files[] = {"model.json", "model.ubj", "model.txt", "model.bst",
                                          "model" GROVE_IMAGE_EXT};
#define NUM_MODEL_FILES (sizeof model_files / sizeof model_files[0])

/* The optional schema beside a directory's model file. */
#define SCHEMA_FILE "schema.json"

/* Room for a directory's path joined with a file name. */
#define PATH_BYTES 4096

/*
 * Formats are sniffed from the first bytes: LightGBM text starts with the line "tree";
 * UBJSON opens an object with '{' and then a length marker or a container option ($ type,
 * # count), where JSON has a quote or white space. Anything else goes to the JSON parser,
 * whose message then says what is wrong.
 */
static int is_lightgbm_text(const char *data, size_t len) {
  return (len >= 5 && memcmp(data, "tree\n", 5) == 0) ||
         (len >= 6 && memcmp(data, "tree\r\n", 6) == 0);
}

static int is_ubjson(const char *data, size_t len) {
  return len >= 2 && data[0] == '{' && data[1] != '\0' && strchr("UiIlL$#", data[1]) != NULL;
}

/* XGBoost's legacy binary format (Booster.save_model("x.bst") before 2.0, and what
 * KServe's xgboost runtime still reads): the "binf" magic of 1.x, or, older, a raw
 * LearnerModelParam struct, whose zero bytes no JSON text has. */
static int is_xgboost_binary(const char *data, size_t len) {
  return (len >= 4 && memcmp(data, "binf", 4) == 0) ||
         memchr(data, '\0', len < 64 ? len : 64) != NULL;
}

grove_err_t grove_forest_load_buffer(const char *data, size_t len, const char *name,
                                     grove_forest_t **out, grove_error_t *err) {
  *out = NULL;
  if (name == NULL) name = "<buffer>";
  if (grove__image_sniff(data, len))
    return grove__error_set(err, GROVE_EINVAL,
                            "%s: a compiled grove image is loaded from its file (named *.grove), "
                            "not from memory",
                            name);
  if (is_lightgbm_text(data, len)) return grove__lightgbm_load(data, len, name, out, err);
  if (is_ubjson(data, len)) return grove__xgboost_load_ubjson(data, len, name, out, err);
  if (is_xgboost_binary(data, len))
    return grove__error_set(err, GROVE_EUNSUPPORTED,
                            "%s: XGBoost's legacy binary model format is not read (it has no "
                            "exact text of its thresholds): load it in XGBoost and re-save it "
                            "with Booster.save_model(\"model.json\") or (\"model.ubj\")",
                            name);
  return grove__xgboost_load_json(data, len, name, out, err);
}

/* Writes DIR/model.json (or the first model file that exists) to BUF: 1 found, 0 none,
 * -1 when the joined path does not fit SIZE bytes. */
static int find_model_file(const char *dir, char *buf, size_t size) {
  for (size_t i = 0; i < NUM_MODEL_FILES; i++) {
    if ((size_t)snprintf(buf, size, "%s/%s", dir, model_files[i]) >= size) return -1;
    if (access(buf, F_OK) == 0) return 1;
  }
  return 0;
}

int grove_model_dir_has_model(const char *path) {
  char buf[PATH_BYTES];
  return grove__file_is_dir(path) && find_model_file(path, buf, sizeof buf) == 1;
}

/*
 * The model file PATH names: PATH itself, or in a model directory its model file, written
 * into BUF (SIZE bytes). *file points to one of them.
 */
static grove_err_t model_file_path(const char *path, char *buf, size_t size, const char **file,
                                   grove_error_t *err) {
  *file = path;
  if (!grove__file_is_dir(path)) return GROVE_OK;
  const int found = find_model_file(path, buf, size);
  if (found < 0) return grove__error_set(err, GROVE_EINVAL, "%s: path too long", path);
  if (found == 0) {
    /* "model.json, model.ubj, model.txt or model.bst", from the one list. */
    char names[128] = "";
    for (size_t i = 0; i < NUM_MODEL_FILES; i++) {
      const char *sep = i == 0 ? "" : i + 1 < NUM_MODEL_FILES ? ", " : " or ";
      const size_t at = strlen(names);
      snprintf(names + at, sizeof names - at, "%s%s", sep, model_files[i]);
    }
    return grove__error_set(err, GROVE_EIO, "%s: directory holds no %s", path, names);
  }
  *file = buf;
  return GROVE_OK;
}

int grove_model_image_path(const char *file, char *buf, size_t size) {
  const char *slash = strrchr(file, '/'), *dot = strrchr(file, '.');
  const size_t stem =
      dot != NULL && (slash == NULL || dot > slash + 1) ? (size_t)(dot - file) : strlen(file);
  const int n = snprintf(buf, size, "%.*s" GROVE_IMAGE_EXT, (int)stem, file);
  return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Appends a warning to REPORT (NULL: dropped), "; " between two. */
static void report_warn(grove_load_report_t *report, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void report_warn(grove_load_report_t *report, const char *fmt, ...) {
  if (report == NULL) return;
  size_t at = strlen(report->warning);
  if (at > 0 && at + 2 < sizeof report->warning) {
    memcpy(report->warning + at, "; ", 3);
    at += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(report->warning + at, sizeof report->warning - at, fmt, ap);
  va_end(ap);
}

/* Maps image PATH for SOURCE (NULL: any source): 1 when *out is it, 0 (warned) when not. */
static int try_image(const char *path, const grove_source_id_t *source, grove_forest_t **out,
                     grove_load_report_t *report) {
  grove_error_t ierr;
  if (grove_forest_image_load(path, source, out, &ierr) == GROVE_OK) {
    if (report != NULL) snprintf(report->image, sizeof report->image, "%s", path);
    return 1;
  }
  report_warn(report, "image not used: %s", ierr.msg);
  return 0;
}

/*
 * Loads the model PATH names, from an image when a current one is found (see
 * grove_model_load_ex). With DATA non-NULL the source file's bytes are kept there (the
 * caller frees them; NULL when the model is an image alone) for a second look at them; on
 * failure nothing is kept.
 */
static grove_err_t load_path(const char *path, const grove_load_opts_t *opts, grove_forest_t **out,
                             char **data, size_t *len, grove_load_report_t *report,
                             grove_error_t *err) {
  static const grove_load_opts_t none = {0};
  char joined[PATH_BYTES], image[PATH_BYTES];
  const char *file;
  char *bytes;
  size_t n;
  *out = NULL;
  if (data != NULL) *data = NULL;
  if (opts == NULL) opts = &none;
  grove_err_t rc = model_file_path(path, joined, sizeof joined, &file, err);
  if (rc != GROVE_OK) return rc;
  if (report != NULL) snprintf(report->file, sizeof report->file, "%s", file);
  const size_t flen = strlen(file), elen = strlen(GROVE_IMAGE_EXT);
  if (flen > elen && strcmp(file + flen - elen, GROVE_IMAGE_EXT) == 0) {
    rc = grove_forest_image_load(file, NULL, out, err);
    if (rc == GROVE_OK && report != NULL) snprintf(report->image, sizeof report->image, "%s", file);
    return rc;
  }
  if ((rc = grove__file_read(file, &bytes, &n, err)) != GROVE_OK) return rc;
  /* Hashing the source is what tells a current image from a stale one: a read of the file,
   * which the source's own parse would have needed anyway. */
  const grove_source_id_t id = grove_source_id_of(bytes, n);
  if (report != NULL) report->source = id;
  int mapped = 0;
  if (!opts->no_images && grove_model_image_path(file, image, sizeof image) == 0 &&
      access(image, F_OK) == 0)
    mapped = try_image(image, &id, out, report);
  char cached[PATH_BYTES] = "";
  if (!mapped && !opts->no_images && opts->cache_dir != NULL) {
    char name[96];
    grove__image_cache_name(&id, name, sizeof name);
    if ((size_t)snprintf(cached, sizeof cached, "%s/%s", opts->cache_dir, name) >= sizeof cached)
      cached[0] = '\0';
    else if (access(cached, F_OK) == 0)
      mapped = try_image(cached, &id, out, report);
  }
  if (!mapped) {
    rc = grove_forest_load_buffer(bytes, n, file, out, err);
    if (rc == GROVE_OK && cached[0] != '\0' && opts->cache_write) {
      grove_error_t werr;
      if (grove_forest_image_write(*out, &id, cached, &werr) != GROVE_OK)
        report_warn(report, "cannot write the cache's image: %s", werr.msg);
    }
  }
  if (rc == GROVE_OK && data != NULL) {
    *data = bytes;
    *len = n;
  } else {
    free(bytes);
  }
  return rc;
}

grove_err_t grove_forest_load_file(const char *path, grove_forest_t **out, grove_error_t *err) {
  return load_path(path, NULL, out, NULL, NULL, NULL, err);
}

grove_err_t grove_model_load(const char *path, grove_forest_t **forest, grove_schema_t **schema,
                             grove_error_t *err) {
  return grove_model_load_ex(path, NULL, forest, schema, NULL, err);
}

grove_err_t grove_model_load_ex(const char *path, const grove_load_opts_t *opts,
                                grove_forest_t **forest, grove_schema_t **schema,
                                grove_load_report_t *report, grove_error_t *err) {
  *forest = NULL;
  *schema = NULL;
  if (report != NULL) memset(report, 0, sizeof *report);
  char *data = NULL;
  size_t len = 0;
  grove_err_t rc = load_path(path, opts, forest, &data, &len, report, err);
  if (rc != GROVE_OK) return rc;
  grove_forest_info_t info;
  grove_forest_get_info(*forest, &info);
  char schema_path[PATH_BYTES];
  const int has_schema_json = grove__file_is_dir(path) &&
                              (size_t)snprintf(schema_path, sizeof schema_path, "%s/" SCHEMA_FILE,
                                               path) < sizeof schema_path &&
                              access(schema_path, F_OK) == 0;
  if (has_schema_json) {
    rc = grove_schema_load_file(schema_path, schema, err);
    if (rc == GROVE_OK && (rc = grove_schema_check(*schema, *forest, err)) != GROVE_OK)
      grove__error_prefix(err, schema_path);
  } else if (data != NULL && strcmp(info.format, GROVE_FORMAT_LIGHTGBM_TEXT) == 0) {
    rc = grove__lightgbm_schema(data, len, *forest, schema, err);
  }
  free(data);
  if (rc != GROVE_OK) {
    grove_forest_free(*forest);
    grove_schema_free(*schema);
    *forest = NULL;
    *schema = NULL;
  }
  return rc;
}

/* [*start, *end) of PATH's component that ends at END, trailing slashes skipped first. */
static void component_before(const char *path, size_t end, size_t *start, size_t *stop) {
  while (end > 1 && path[end - 1] == '/') end--;
  size_t begin = end;
  while (begin > 0 && path[begin - 1] != '/') begin--;
  *start = begin;
  *stop = end;
}

/* Whether the N bytes at S are exactly the string WORD. */
static int span_is(const char *s, size_t n, const char *word) {
  return strlen(word) == n && memcmp(s, word, n) == 0;
}

const char *grove_model_name_from_path(const char *path, char *buf, size_t size) {
  if (size == 0) return buf;
  size_t start, end;
  component_before(path, strlen(path), &start, &end);
  if (start == end) { /* "/" or "": nothing to name but the path itself */
    snprintf(buf, size, "%.*s", (int)end, path);
    return buf;
  }
  if (!grove__file_is_dir(path)) {
    /* A model directory's own model file is served under the directory's name. */
    int model_file = 0;
    for (size_t i = 0; i < NUM_MODEL_FILES; i++)
      model_file |= span_is(path + start, end - start, model_files[i]);
    size_t pstart, pend;
    component_before(path, start, &pstart, &pend);
    if (model_file && pend > pstart && !span_is(path + pstart, pend - pstart, ".") &&
        !span_is(path + pstart, pend - pstart, "..")) {
      start = pstart;
      end = pend;
    } else {
      /* Any other file (and a model file with no directory named): its name without the
       * extension of a model file. */
      for (size_t i = 0; i < NUM_MODEL_FILES; i++) {
        const char *ext = strrchr(model_files[i], '.');
        const size_t n = strlen(ext);
        if (end - start > n && memcmp(path + end - n, ext, n) == 0) {
          end -= n;
          break;
        }
      }
    }
  }
  snprintf(buf, size, "%.*s", (int)(end - start), path + start);
  return buf;
}
