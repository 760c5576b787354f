/*
 * grove engine: loads tree-ensemble models into one immutable block of flat arrays and
 * evaluates batches of rows over it. A forest has one owner; whoever shares it (the daemon's
 * registry) counts references on its own record of the model, so the block itself is never
 * written after it is built.
 *
 * Rows are float32, row-major, NaN = missing. Every function that can fail returns a
 * grove_err_t (0 on success, a negative code otherwise) and fills a caller-owned
 * grove_error_t with a message that names the file and the problem.
 *
 * Names (libuv's rule): everything declared here is the public API and is called
 * grove_<noun>_<verb>. The engine's other cross-file functions are internal and are called
 * grove__<name> (two underscores), declared in the engine's other headers; functions
 * private to one file are static and unprefixed. Nothing outside engine/ calls a
 * grove__ function except the engine's own tests.
 */
#ifndef GROVE_ENGINE_H
#define GROVE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One table gives both the enum and the strings (libuv's UV_ERRNO_MAP pattern). */
#define GROVE_ERRNO_MAP(XX)                         \
  XX(ENOMEM, -1, "out of memory")                   \
  XX(EIO, -2, "cannot read file")                   \
  XX(EPARSE, -3, "malformed model")                 \
  XX(EUNSUPPORTED, -4, "unsupported model feature") \
  XX(EINVAL, -5, "invalid argument")                \
  XX(EINPUT, -6, "bad input")                       \
  XX(ESTALE, -7, "stale model image")

typedef enum {
  GROVE_OK = 0,
#define XX(name, code, str) GROVE_##name = code,
  GROVE_ERRNO_MAP(XX)
#undef XX
} grove_err_t;

/** A caller-owned buffer for the human-readable message of the last failure. */
typedef struct {
  char msg[512];
} grove_error_t;

/** Returns a static string describing an error code. */
const char *grove_strerror(int err);

/** Returns the error code's name, e.g. "EPARSE". */
const char *grove_err_name(int err);

/* ------------------------------------------------------------------------- */
/* Forests                                                                    */

/** An immutable model: everything lives in one aligned allocation, read-only once built
 * (any number of threads may predict with it at once). */
typedef struct grove_forest grove_forest_t;

/** How a model's raw margins become its outputs. */
typedef enum {
  GROVE_TRANSFORM_IDENTITY = 0,
  GROVE_TRANSFORM_SIGMOID,   /* binary:logistic, reg:logistic */
  GROVE_TRANSFORM_HINGE,     /* binary:hinge: 1 if margin > 0 else 0 */
  GROVE_TRANSFORM_EXP,       /* count:poisson, reg:gamma, reg:tweedie, survival:cox */
  GROVE_TRANSFORM_SOFTMAX,   /* multi:softprob */
  GROVE_TRANSFORM_ARGMAX,    /* multi:softmax: the class index */
  GROVE_TRANSFORM_ISOLATION, /* grove:isolation_score: -2^-margin, IsolationForest's score_samples
                              */
  GROVE_TRANSFORM_EXPECTILE, /* reg:expectileerror (XGBoost 3.3+): output 0 is margin 0, output
                                j the previous one + 1e-6 + softplus(margin j) */
  GROVE_TRANSFORM_SORT,      /* reg:quantileerror from XGBoost 3.4 on: each row's outputs sorted
                                ascending, so quantiles never cross */
} grove_transform_t;

/** What kind of task a model solves; tells a caller how to label its outputs. */
typedef enum {
  GROVE_TASK_REGRESSION = 0,
  GROVE_TASK_BINARY,     /* one output: probability (or score) of the positive class */
  GROVE_TASK_MULTICLASS, /* K outputs (softprob) or one class index (softmax) */
  GROVE_TASK_RANKING,
} grove_task_t;

/** Feature types as XGBoost names them: "q"/"float" numeric, "int", "i" indicator, "c". */
typedef enum {
  GROVE_FEATURE_NUMERIC = 0,
  GROVE_FEATURE_INTEGER,
  GROVE_FEATURE_INDICATOR,
  GROVE_FEATURE_CATEGORICAL,
} grove_feature_type_t;

/** A summary of a loaded model; strings point into the forest and live as long as it. */
typedef struct {
  const char *format;       /* "xgboost-json", "lightgbm-text" or "scikit-learn" */
  const char *source_model; /* what a converter read, e.g. "RandomForestClassifier"; or "" */
  const char *objective;    /* e.g. "binary:logistic" */
  const char *booster;      /* "gbtree" or "dart" */
  grove_task_t task;
  grove_transform_t transform;
  uint32_t num_features;
  uint32_t num_groups;  /* margin columns: classes for multi-class, else targets */
  uint32_t num_outputs; /* columns of transformed output */
  uint32_t num_trees;
  uint32_t num_parallel_tree;
  uint32_t max_depth; /* edges on the longest root-to-leaf path */
  uint64_t num_nodes;
  uint64_t num_leaves;
  uint64_t num_categorical_splits;
  size_t memory_bytes; /* size of the flat block */
  size_t explain_memory_bytes; /* the explanation walks' arrays and tables (at most the block's
                                  size more than the node covers they replace) */
  size_t kernel_memory_bytes;  /* the kernels' tables outside the flat block (the trees kernel's
                                  copy of the 6-level tables, the ranks kernel's complete trees);
                                  0 where the kernels in use walk the block alone */
  double base_margin;  /* base_score converted to margin space */
  int has_feature_names;
} grove_forest_info_t;

/**
 * Loads the model file at PATH, or a model directory's model file when PATH is a directory
 * (the first of model.json, model.ubj, model.txt, model.bst it holds). The format is sniffed from the
 * bytes, not the name: XGBoost JSON or UBJSON (Booster.save_model(), XGBoost 1.x-3.x), a
 * LightGBM text model (LightGBM 2.x-4.x), or a scikit-learn model converted to XGBoost JSON
 * by models/convert_sklearn.py. A directory's schema.json is not read: see
 * grove_model_load(). On success the caller owns *out and frees it with grove_forest_free().
 */
grove_err_t grove_forest_load_file(const char *path, grove_forest_t **out, grove_error_t *err);

/**
 * Loads a model from memory: any format grove_forest_load_file() reads, sniffed the same
 * way. NAME only appears in error messages (NULL: "<buffer>"). DATA need not be
 * NUL-terminated and is not kept.
 */
grove_err_t grove_forest_load_buffer(const char *data, size_t len, const char *name,
                                     grove_forest_t **out, grove_error_t *err);

/** Frees FOREST (NULL is ignored): nobody may use it any more. */
void grove_forest_free(grove_forest_t *forest);

/** Fills INFO with the model's summary. */
void grove_forest_get_info(const grove_forest_t *forest, grove_forest_info_t *info);

/** Name of feature I, or NULL when the model has no feature names or I is out of range. */
const char *grove_forest_feature_name(const grove_forest_t *forest, uint32_t i);

/** Type of feature I (numeric when the model does not say). */
grove_feature_type_t grove_forest_feature_type(const grove_forest_t *forest, uint32_t i);

/** One more than the highest category code any split on feature I lists (0: none). */
uint32_t grove_forest_category_bound(const grove_forest_t *forest, uint32_t i);

/** Index of the feature called NAME, or -1. */
int32_t grove_forest_feature_index(const grove_forest_t *forest, const char *name);

/** Number of floats one row produces: num_groups with MARGIN, else num_outputs. */
uint32_t grove_forest_output_width(const grove_forest_t *forest, int margin);

/* ------------------------------------------------------------------------- */
/* Prediction                                                                 */

typedef struct {
  int margin;       /* 1: raw margins (base score included), no output transform */
  uint32_t threads; /* 0 or 1: the calling thread only; N: split batches of 64+ rows N ways
                       (at least 32 rows each) over helper threads the engine keeps */
} grove_predict_opts_t;

/**
 * Evaluates NROWS rows of num_features floats each (row-major, NaN = missing) and
 * writes NROWS * grove_forest_output_width(forest, opts->margin) floats to OUT.
 * OPTS may be NULL (transformed outputs, one thread). Each float is the value the
 * training library is given: exact for XGBoost and scikit-learn (which cast their inputs
 * to float32) and for LightGBM given float32 data; a LightGBM model given doubles (decimal
 * text, float64) needs grove_forest_input_value() or grove_forest_predict_f64().
 * Margins are summed as the training library sums them (float32 for XGBoost and
 * scikit-learn, double for LightGBM) and rounded to float once.
 */
grove_err_t grove_forest_predict(const grove_forest_t *forest, const float *rows, size_t nrows,
                                 float *out, const grove_predict_opts_t *opts, grove_error_t *err);

/**
 * The float32 the kernels must see for value X of feature FEATURE (below num_features)
 * when X arrives as a double (decimal text, JSON numbers, float64 tensors), so that the
 * model decides it as its training library decides X:
 *  - XGBoost and scikit-learn models: (float)X, their own cast; *EXACT is 1.
 *  - LightGBM models: NaN stays NaN; |X| <= 1e-35 becomes 0 (LightGBM's kZeroThreshold);
 *    a categorical feature's X is truncated toward 0 first (LightGBM's int cast); a
 *    numeric feature's X becomes a float on the same side of every threshold of that
 *    feature as X (X itself when it is a float32; usually (float)X, found without a
 *    search). *EXACT is 0 when no float32 does that (X lies between two of the feature's
 *    thresholds that round to the same float32), or when a linear leaf computes with X
 *    and X is not a float32: the float returned is then (float)X, and only
 *    grove_forest_predict_f64() on the row's doubles gives LightGBM's answer.
 * EXACT may be NULL. Thread-safe; no allocation.
 */
float grove_forest_input_value(const grove_forest_t *forest, uint32_t feature, double x,
                               int *exact);

/**
 * 1 when FOREST decides some double inputs as its library does only through
 * grove_forest_input_value() and, for the rows it calls inexact,
 * grove_forest_predict_f64() (LightGBM models); 0 when (float)x is all the library uses
 * (XGBoost, scikit-learn). A caller keeps the doubles of a request only for the former.
 */
int grove_forest_takes_doubles(const grove_forest_t *forest);

/**
 * grove_forest_predict() for rows of doubles (row-major, NaN = missing): each value goes
 * through grove_forest_input_value(), and rows that no float32 row decides as the
 * training library does (see *EXACT there) are walked in double instead: for LightGBM
 * models with the double thresholds and LightGBM's own rules, which also scores linear
 * trees on the row's doubles. Outputs are what the library computes, rounded to float32.
 */
grove_err_t grove_forest_predict_f64(const grove_forest_t *forest, const double *rows, size_t nrows,
                                     float *out, const grove_predict_opts_t *opts,
                                     grove_error_t *err);

/**
 * grove_forest_predict(margin=1) without the rounding to float: NROWS * num_groups margins
 * as the training library sums them, written as doubles (LightGBM's double sums as they
 * are; XGBoost's and scikit-learn's float32 sums widened). With grove_forest_transform64()
 * a caller can score many requests' rows in one batch and still give each request the
 * outputs the library gives: grove_forest_transform() of float margins rounds a LightGBM
 * margin before its transform (a few float32 steps off on sigmoid and softmax outputs).
 */
grove_err_t grove_forest_predict_margins64(const grove_forest_t *forest, const float *rows,
                                           size_t nrows, double *margins,
                                           const grove_predict_opts_t *opts, grove_error_t *err);

/** grove_forest_transform() for margins from grove_forest_predict_margins64(): NROWS rows of
 * num_groups doubles, NROWS * num_outputs floats written to OUT. */
void grove_forest_transform64(const grove_forest_t *forest, const double *margins, size_t nrows,
                              float *out);

/**
 * Name of the kernel that scores FOREST: grove_engine_kernel(), except for forests only
 * the exact double walk scores (LightGBM linear trees): "scalar-exact".
 */
const char *grove_forest_kernel(const grove_forest_t *forest);

/**
 * Fills ROWS (NROWS x num_features) with synthetic rows for benchmarks and tests: each
 * value is one of the model's own thresholds for that feature, nudged up or down by one
 * float step or not at all, so every split sees both sides; categorical features get
 * codes around their sets; about 1 value in 64 is NaN. The same SEED gives the same rows.
 */
void grove_forest_synthesize_rows(const grove_forest_t *forest, size_t nrows, uint64_t seed,
                                  float *rows);

/**
 * Applies the model's output transform (sigmoid, softmax, ...) to NROWS rows of
 * num_groups margins, writing NROWS * num_outputs floats to OUT (which may equal
 * MARGINS). With grove_forest_predict(margin=1) this lets a caller score many requests'
 * rows in one batch and still give each request the output it asked for.
 */
void grove_forest_transform(const grove_forest_t *forest, const float *margins, size_t nrows,
                            float *out);

/**
 * Name of the instruction set the kernels use: "scalar", "avx2" or "avx512". The best the
 * CPU (and OS) supports, lowered by the environment variable GROVE_ISA=scalar|avx2|avx512.
 */
const char *grove_engine_isa(void);

/** Name of the traversal kernel in use, e.g. "scalar-blocked" or "avx512-trees/avx512-rows". */
const char *grove_engine_kernel(void);

/**
 * Why the ISA differs from what GROVE_ISA asked for (an unknown value, or an ISA this CPU
 * lacks), as a static sentence for the caller to log; NULL when nothing needs saying.
 */
const char *grove_engine_isa_note(void);

/* ------------------------------------------------------------------------- */
/* Explanations                                                               */

/**
 * GROVE_OK when FOREST's predictions can be explained with grove_forest_contribs(); else
 * GROVE_EUNSUPPORTED with the reason in ERR: linear trees (their contributions are not
 * defined; LightGBM refuses them too), or no node covers in the model file (XGBoost's
 * sum_hessian, LightGBM's internal_count / leaf_count), which TreeSHAP weighs paths with.
 */
grove_err_t grove_forest_explainable(const grove_forest_t *forest, grove_error_t *err);

/** Doubles one row's contributions take: num_groups x (num_features + 1). */
uint32_t grove_forest_contribs_width(const grove_forest_t *forest);

/**
 * Per-row feature contributions (exact path-dependent TreeSHAP, as XGBoost's
 * pred_contribs and LightGBM's predict_contrib compute them), in margin space: for each row
 * and output group, num_features values and then the bias (the trees' expected values plus
 * the base margin), together summing to the row's margin. Writes NROWS *
 * grove_forest_contribs_width() doubles to OUT, row-major, group by group. LightGBM random
 * forests are not averaged, as LightGBM's are not. Rows as in grove_forest_predict().
 */
grove_err_t grove_forest_contribs(const grove_forest_t *forest, const float *rows, size_t nrows,
                                  double *out, grove_error_t *err);

/** The same for rows of doubles, decided as grove_forest_predict_f64() decides them. */
grove_err_t grove_forest_contribs_f64(const grove_forest_t *forest, const double *rows,
                                      size_t nrows, double *out, grove_error_t *err);

/**
 * The leaf each row reaches in each tree: NROWS x num_trees indexes, numbered as the
 * model's library numbers them (XGBoost's pred_leaf: the leaf's node id; LightGBM's
 * predict_leaf_index: the leaf's index in its tree). Any model, linear trees included.
 */
grove_err_t grove_forest_leaves(const grove_forest_t *forest, const float *rows, size_t nrows,
                                uint32_t *out, grove_error_t *err);

/** The same for rows of doubles, decided as grove_forest_predict_f64() decides them. */
grove_err_t grove_forest_leaves_f64(const grove_forest_t *forest, const double *rows, size_t nrows,
                                    uint32_t *out, grove_error_t *err);

/* ------------------------------------------------------------------------- */
/* Schemas (schema.json beside a directory's model file)                      */

typedef struct {
  char *name;
  grove_feature_type_t type;
  char *description;     /* may be NULL */
  double min, max, step; /* NaN when absent */
  char **categories;     /* categorical only: strings in code order */
  uint32_t num_categories;
  char **missing; /* "missing": strings that mean a missing value here (e.g. "?") */
  uint32_t num_missing;
} grove_schema_feature_t;

typedef struct {
  char *description; /* may be NULL */
  char **labels;     /* class labels in output order; NULL when absent */
  uint32_t num_labels;
  grove_schema_feature_t *features;
  uint32_t num_features;
  char **missing; /* "missing": strings that mean a missing value in every feature */
  uint32_t num_missing;
  int unknown_missing; /* "unknown_categories": "missing" (else "refuse", the default) */
} grove_schema_t;

/**
 * Parses a schema.json file. On success the caller owns *out and frees it with
 * grove_schema_free().
 */
grove_err_t grove_schema_load_file(const char *path, grove_schema_t **out, grove_error_t *err);

/** Checks that SCHEMA describes FOREST's features (same count, names and kinds). */
grove_err_t grove_schema_check(const grove_schema_t *schema, const grove_forest_t *forest,
                               grove_error_t *err);

/** Code of category string VALUE of feature I, or -1 when unknown. */
int32_t grove_schema_category_code(const grove_schema_t *schema, uint32_t i, const char *value,
                                   size_t len);

/**
 * 1 when feature I is categorical and every one of its category strings is a number (the
 * saved categories of a numeric column, e.g. pandas_categorical [[1, 2, 3]]): a number
 * given for it could then be either a label or a code.
 */
int grove_schema_category_labels_numeric(const grove_schema_t *schema, uint32_t i);

/** How category text is read: --categories of `grove predict`. */
typedef enum {
  GROVE_CATEGORIES_AUTO = 0, /* a label if it is one, else a number is a code (see below) */
  GROVE_CATEGORIES_LABELS,   /* always a label */
  GROVE_CATEGORIES_CODES,    /* always a number, the code itself */
} grove_categories_t;

/** What grove_schema_category_read() read. */
typedef enum {
  GROVE_CATEGORY_UNKNOWN = 0, /* neither a label of the feature nor (where allowed) a number */
  GROVE_CATEGORY_LABEL,       /* a label: *code is its code */
  GROVE_CATEGORY_CODE,        /* a number: *code is that number, as given */
  GROVE_CATEGORY_AMBIGUOUS,   /* AUTO only: a label, and also a number that is the code of
                                 another label (*code: the label's code) */
} grove_category_kind_t;

/**
 * Reads TEXT (LEN bytes) given for categorical feature I as MODE says, writing the
 * category code it names to *CODE. A label is matched by its text, or for numeric
 * labels by value ("1" is the label "1.0"). A number is taken as a code whatever its
 * value, as LightGBM and XGBoost take numbers: codes outside the labels (and negative or
 * fractional ones) reach the model, which sends them to the side of "not in the set"; pass
 * *CODE through grove_forest_input_value() like any other value. In AUTO mode text that
 * is a label is that label unless it is also a number that is an integer code below
 * num_categories naming a different label: then AMBIGUOUS, for the caller to refuse
 * naming its option (labels or codes). SCHEMA may be NULL (no labels: numbers only).
 */
grove_category_kind_t grove_schema_category_read(const grove_schema_t *schema, uint32_t i,
                                                 const char *text, size_t len,
                                                 grove_categories_t mode, double *code);

/** 1 when VALUE (LEN bytes) is one of the schema's missing-value tokens, the whole schema's
 * or feature I's ("missing"); NULL SCHEMA: 0. */
int grove_schema_is_missing(const grove_schema_t *schema, uint32_t i, const char *value,
                            size_t len);

void grove_schema_free(grove_schema_t *schema);

/* ------------------------------------------------------------------------- */
/* Compiled model images                                                      */

/*
 * A model image (`grove compile`, model.grove) is a loaded forest's arrays as one file,
 * mapped read-only when loaded: no parsing, no building, and its pages are shared by every
 * process that maps it. It records the source model file it was compiled from (its size and
 * XXH64 hash), the image format and forest layout versions, the byte order and word size,
 * and an XXH64 checksum of its bytes; loading checks all of them and the arrays themselves.
 */

/** A source model file's identity: its XXH64 hash and size. */
typedef struct {
  uint64_t hash;
  uint64_t bytes;
} grove_source_id_t;

/** The identity of the LEN bytes at DATA (a model file's contents). */
grove_source_id_t grove_source_id_of(const void *data, size_t len);

/**
 * Writes FOREST's image to PATH (through a temporary file renamed over it, so a reader
 * never sees half of one), recording SOURCE (NULL: none, an image no source matches).
 */
grove_err_t grove_forest_image_write(const grove_forest_t *forest, const grove_source_id_t *source,
                                     const char *path, grove_error_t *err);

/**
 * Maps the image at PATH read-only and checks it (header, versions, byte order, bounds of
 * every section, checksum, and the trees as the builder makes them) before anything reads
 * it. With SOURCE non-NULL the image must have been compiled from that source: else
 * GROVE_ESTALE, as for an image of another format or layout version (recompile it); a
 * corrupt, truncated or malformed one is GROVE_EPARSE. The caller owns *out
 * (grove_forest_free() unmaps it); predictions and contributions are bit-identical to
 * those of the forest it was written from.
 */
grove_err_t grove_forest_image_load(const char *path, const grove_source_id_t *source,
                                    grove_forest_t **out, grove_error_t *err);

/* ------------------------------------------------------------------------- */
/* Model paths: files and model directories                                  */

/**
 * Loads PATH as a model, as grove_forest_load_file() does: a model file, or a directory
 * holding a model file (model.json, model.ubj, model.txt or model.bst) and optionally schema.json,
 * which is then checked against the model. Without schema.json, a LightGBM model's
 * pandas_categorical trailer supplies the schema when it has a usable one. *schema is NULL
 * when there is none. The caller owns both results.
 */
grove_err_t grove_model_load(const char *path, grove_forest_t **forest, grove_schema_t **schema,
                             grove_error_t *err);

/** Where grove_model_load_ex() may find images of a model instead of building it. */
typedef struct {
  int no_images;         /* 1: build from the source, ignoring images (`grove compile`) */
  const char *cache_dir; /* NULL, or a directory of images named by their source's hash */
  int cache_write;       /* 1: an image built from a source is written to cache_dir */
} grove_load_opts_t;

/** What grove_model_load_ex() did, for the caller's log. */
typedef struct {
  char file[4096];          /* the model file PATH named (a directory's model.json, ...) */
  grove_source_id_t source; /* its identity; zero when it is an image */
  char image[4096];  /* the image the forest was mapped from; "" when built from the source */
  char warning[1024]; /* "" or what to log as a warning: an image ignored (stale, corrupt)
                         and why, an image that could not be written to the cache */
} grove_load_report_t;

/**
 * grove_model_load() with images. The model file's image beside it (its path with the
 * extension .grove: model.grove beside model.json) is used when it records the source file
 * as it is now (size and hash); then an image in OPTS->cache_dir named by the source's hash.
 * A stale, corrupt or unreadable image is never used: the source is loaded instead and
 * REPORT->warning says why, and with cache_write the rebuilt image replaces a cache's. A
 * directory holding only model.grove, or PATH naming an image, loads that image (no source
 * to check it against). OPTS and REPORT may be NULL (no cache; no report).
 */
grove_err_t grove_model_load_ex(const char *path, const grove_load_opts_t *opts,
                                grove_forest_t **forest, grove_schema_t **schema,
                                grove_load_report_t *report, grove_error_t *err);

/** The path of the image beside model file FILE (its extension replaced by .grove), written
 * to BUF (SIZE bytes); -1 when it does not fit. */
int grove_model_image_path(const char *file, char *buf, size_t size);

/** 1 when PATH is a directory holding a model file (model.json, model.ubj, model.txt or
 * model.bst). */
int grove_model_dir_has_model(const char *path);

/**
 * The name a model at PATH is served under, written to BUF (SIZE bytes): a directory's own
 * name; for a model file named model.json / model.ubj / model.txt, the name of the
 * directory holding it; for any other file, its base name without a .json / .ubj / .txt
 * extension. Trailing slashes are ignored. Returns BUF.
 */
const char *grove_model_name_from_path(const char *path, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* GROVE_ENGINE_H */
