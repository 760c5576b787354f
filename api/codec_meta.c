/*
 * Model metadata: what GET /v1/models, /v1/models/{name}, /v2/models/{name}, `grove info`
 * and `grove schema` print, all from one set of field and name tables (json-c trees).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "codecs.h"

#define CONTENT_TYPE_JSON "application/json"

/* ------------------------------------------------------------------------- */
/* Metadata responses (json-c trees)                                          */

/* Adds VAL to O under KEY; a NULL VAL (failed allocation) sets *failed. */
static void add(json_object *o, const char *key, json_object *val, int *failed) {
  if (val == NULL || o == NULL || json_object_object_add(o, key, val) != 0) {
    json_object_put(val);
    *failed = 1;
  }
}

static void push(json_object *a, json_object *val, int *failed) {
  if (val == NULL || a == NULL || json_object_array_add(a, val) != 0) {
    json_object_put(val);
    *failed = 1;
  }
}

static json_object *new_string(const char *s) { return json_object_new_string(s ? s : ""); }

static const char *const task_names[] = {[GROVE_TASK_REGRESSION] = "regression",
                                         [GROVE_TASK_BINARY] = "binary",
                                         [GROVE_TASK_MULTICLASS] = "multiclass",
                                         [GROVE_TASK_RANKING] = "ranking"};

static const char *const feature_type_names[] = {[GROVE_FEATURE_NUMERIC] = "numeric",
                                                 [GROVE_FEATURE_INTEGER] = "integer",
                                                 [GROVE_FEATURE_INDICATOR] = "indicator",
                                                 [GROVE_FEATURE_CATEGORICAL] = "categorical"};

static const char *task_name(grove_task_t t) {
  return (size_t)t < sizeof task_names / sizeof task_names[0] ? task_names[t] : "unknown";
}

static const char *feature_type_name(grove_feature_type_t t) {
  return (size_t)t < sizeof feature_type_names / sizeof feature_type_names[0]
             ? feature_type_names[t]
             : "numeric";
}

/* schema.json knows numeric, integer and categorical: an indicator is an integer there. */
static const char *schema_type_name(grove_feature_type_t t) {
  return feature_type_name(t == GROVE_FEATURE_INDICATOR ? GROVE_FEATURE_INTEGER : t);
}

static json_object *string_array(char **s, uint32_t n, int *failed) {
  json_object *a = json_object_new_array_ext((int)n);
  if (a == NULL) *failed = 1;
  for (uint32_t i = 0; i < n && a != NULL; i++) push(a, new_string(s[i]), failed);
  return a;
}

/* "classes": the schema's labels, or the number of classes; null for regression (json-c's
 * null is the NULL object, which add() would take for a failed allocation). */
static void add_classes(json_object *o, const grove_forest_info_t *info,
                        const grove_schema_t *schema, int *failed) {
  if (schema != NULL && schema->num_labels > 0)
    add(o, "classes", string_array(schema->labels, schema->num_labels, failed), failed);
  else if (info->task == GROVE_TASK_MULTICLASS)
    add(o, "classes", json_object_new_int64(info->num_groups), failed);
  else if (info->task == GROVE_TASK_BINARY)
    add(o, "classes", json_object_new_int64(2), failed);
  else if (o == NULL || json_object_object_add(o, "classes", NULL) != 0)
    *failed = 1;
}

/*
 * The model's schema: its schema.json, or one generated from its feature names and types.
 * AS_FILE gives a schema.json to keep beside the model (grove schema): no "classes", and a
 * categorical feature without strings gets its codes "0".."N-1" as names, up to the highest
 * its splits name, so that the file loads back.
 */
static json_object *schema_json(const grove_forest_t *forest, const grove_schema_t *schema,
                                int as_file, int *failed) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  json_object *o = json_object_new_object(), *features = json_object_new_array();
  if (schema != NULL) {
    if (schema->description != NULL) add(o, "description", new_string(schema->description), failed);
    if (schema->num_labels > 0)
      add(o, "labels", string_array(schema->labels, schema->num_labels, failed), failed);
    if (schema->num_missing > 0)
      add(o, "missing", string_array(schema->missing, schema->num_missing, failed), failed);
    if (schema->unknown_missing)
      add(o, "unknown_categories", json_object_new_string("missing"), failed);
    for (uint32_t j = 0; j < schema->num_features; j++) {
      const grove_schema_feature_t *f = &schema->features[j];
      json_object *fo = json_object_new_object();
      add(fo, "name", new_string(f->name), failed);
      add(fo, "type", json_object_new_string(schema_type_name(f->type)), failed);
      if (!isnan(f->min)) add(fo, "min", json_object_new_double(f->min), failed);
      if (!isnan(f->max)) add(fo, "max", json_object_new_double(f->max), failed);
      if (!isnan(f->step)) add(fo, "step", json_object_new_double(f->step), failed);
      if (f->description != NULL) add(fo, "description", new_string(f->description), failed);
      if (f->type == GROVE_FEATURE_CATEGORICAL)
        add(fo, "categories", string_array(f->categories, f->num_categories, failed), failed);
      if (f->num_missing > 0)
        add(fo, "missing", string_array(f->missing, f->num_missing, failed), failed);
      push(features, fo, failed);
    }
  } else {
    for (uint32_t j = 0; j < info.num_features; j++) {
      json_object *fo = json_object_new_object();
      char name[32];
      const char *fn = grove_forest_feature_name(forest, j);
      if (fn == NULL) {
        snprintf(name, sizeof name, "f%u", j);
        fn = name;
      }
      grove_feature_type_t t = grove_forest_feature_type(forest, j);
      add(fo, "name", new_string(fn), failed);
      add(fo, "type", json_object_new_string(schema_type_name(t)), failed);
      if (as_file && t == GROVE_FEATURE_CATEGORICAL) {
        json_object *codes = json_object_new_array();
        for (uint32_t c = 0, n = grove_forest_category_bound(forest, j); c < n; c++) {
          char code[16];
          snprintf(code, sizeof code, "%u", c);
          push(codes, new_string(code), failed);
        }
        add(fo, "categories", codes, failed);
      }
      push(features, fo, failed);
    }
  }
  add(o, "features", features, failed);
  if (!as_file) add_classes(o, &info, schema, failed);
  return o;
}

/* What a model object holds beyond the fields every one has. */
enum {
  MODEL_SERVED = 1, /* a served model: name, path, load time, reloads (META) */
  MODEL_SCHEMA = 2, /* "schema": the schema object */
  MODEL_DETAILS =
      4, /* `grove info`: features, nodes, base margin..., "schema": whether there is one */
};

/* The model's features as the model itself types them, with category counts from the schema. */
static json_object *feature_list(const grove_forest_t *forest, const grove_schema_t *schema,
                                 uint32_t n, int *failed) {
  json_object *features = json_object_new_array();
  for (uint32_t j = 0; j < n; j++) {
    json_object *f = json_object_new_object();
    const char *name = grove_forest_feature_name(forest, j);
    char fallback[32];
    snprintf(fallback, sizeof fallback, "f%u", j);
    add(f, "name", new_string(name ? name : fallback), failed);
    add(f, "type", json_object_new_string(feature_type_name(grove_forest_feature_type(forest, j))),
        failed);
    if (schema && j < schema->num_features && schema->features[j].type == GROVE_FEATURE_CATEGORICAL)
      add(f, "categories", json_object_new_int64(schema->features[j].num_categories), failed);
    push(features, f, failed);
  }
  return features;
}

/* The model's details for `grove info`: the layout's sizes and the features as typed. */
static void add_details(json_object *o, const grove_forest_info_t *info,
                        const grove_forest_t *forest, const grove_schema_t *schema, int *failed) {
  add(o, "features", feature_list(forest, schema, info->num_features, failed), failed);
  uint32_t num_class = info->task == GROVE_TASK_MULTICLASS ? info->num_groups
                       : info->task == GROVE_TASK_BINARY   ? 2
                                                           : 0;
  add(o, "num_class", json_object_new_int64(num_class), failed);
  add(o, "num_parallel_tree", json_object_new_int64(info->num_parallel_tree), failed);
  add(o, "nodes", json_object_new_int64((int64_t)info->num_nodes), failed);
  add(o, "categorical_splits", json_object_new_int64((int64_t)info->num_categorical_splits),
      failed);
  add(o, "base_margin", json_object_new_double(info->base_margin), failed);
}

/* "explainable", and when false "explain_error", the engine's reason: a client (the UI's
 * form) then asks for "explain" only where it works, instead of learning it from a 422 and
 * sending the request again (#16). */
static void add_explainable(json_object *o, const grove_forest_t *forest, int *failed) {
  grove_error_t gerr;
  const int explainable = grove_forest_explainable(forest, &gerr) == GROVE_OK;
  add(o, "explainable", json_object_new_boolean(explainable), failed);
  if (!explainable) add(o, "explain_error", new_string(gerr.msg), failed);
}

static json_object *model_json(const api_model_meta_t *meta, const grove_forest_t *forest,
                               const grove_schema_t *schema, int parts, int *failed) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  json_object *o = json_object_new_object();
  if (o == NULL) {
    *failed = 1;
    return NULL;
  }
  if (parts & MODEL_SERVED) {
    add(o, "name", new_string(meta->name), failed);
    if (meta->path != NULL) add(o, "path", new_string(meta->path), failed);
  }
  add(o, "format", new_string(info.format), failed);
  if (info.source_model[0] != '\0') add(o, "source_model", new_string(info.source_model), failed);
  add(o, "objective", new_string(info.objective), failed);
  add(o, "booster", new_string(info.booster), failed);
  add(o, "task", json_object_new_string(task_name(info.task)), failed);
  add(o, "num_features", json_object_new_int64(info.num_features), failed);
  if (parts & MODEL_DETAILS) add_details(o, &info, forest, schema, failed);
  add(o, "trees", json_object_new_int64(info.num_trees), failed);
  add(o, "max_depth", json_object_new_int64(info.max_depth), failed);
  add(o, "leaves", json_object_new_int64((int64_t)info.num_leaves), failed);
  add(o, "num_outputs", json_object_new_int64(info.num_outputs), failed);
  add_classes(o, &info, schema, failed);
  add(o, "memory_bytes", json_object_new_int64((int64_t)info.memory_bytes), failed);
  add(o, "explain_memory_bytes", json_object_new_int64((int64_t)info.explain_memory_bytes),
      failed);
  add(o, "kernel_memory_bytes", json_object_new_int64((int64_t)info.kernel_memory_bytes), failed);
  add_explainable(o, forest, failed);
  add(o, "isa", new_string(grove_engine_isa()), failed);
  add(o, "kernel", new_string(grove_forest_kernel(forest)), failed);
  if (parts & MODEL_SERVED) {
    add(o, "loaded_at", json_object_new_double(meta->loaded_at), failed);
    add(o, "load_seconds", json_object_new_double(meta->load_seconds), failed);
    add(o, "reloads", json_object_new_int64((int64_t)meta->reloads), failed);
  }
  if (parts & MODEL_SCHEMA) add(o, "schema", schema_json(forest, schema, 0, failed), failed);
  if (parts & MODEL_DETAILS) add(o, "schema", json_object_new_boolean(schema != NULL), failed);
  return o;
}

/* Serializes and frees ROOT into BODY. */
static int finish_tree_as(json_object *root, int failed, int flags, api_body_t *body) {
  memset(body, 0, sizeof *body);
  if (failed || root == NULL) {
    json_object_put(root);
    return -1;
  }
  size_t len;
  const char *s =
      json_object_to_json_string_length(root, flags | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
  char *copy = s ? malloc(len + 1) : NULL;
  if (copy != NULL) memcpy(copy, s, len + 1);
  json_object_put(root);
  if (copy == NULL) return -1;
  body->data = copy;
  body->len = len;
  body->content_type = CONTENT_TYPE_JSON;
  return 0;
}

static int finish_tree(json_object *root, int failed, api_body_t *body) {
  return finish_tree_as(root, failed, JSON_C_TO_STRING_PLAIN, body);
}

int api_encode_schema_file(const grove_forest_t *forest, const grove_schema_t *schema,
                           api_body_t *body) {
  int failed = 0;
  json_object *o = schema_json(forest, schema, 1, &failed);
  return finish_tree_as(o, failed, JSON_C_TO_STRING_PRETTY, body);
}

int api_encode_model_v1(const api_model_meta_t *meta, const grove_forest_t *forest,
                        const grove_schema_t *schema, api_body_t *body) {
  int failed = 0;
  json_object *o = model_json(meta, forest, schema, MODEL_SERVED | MODEL_SCHEMA, &failed);
  return finish_tree(o, failed, body);
}

int api_encode_model_info(const grove_forest_t *forest, const grove_schema_t *schema,
                          api_body_t *body) {
  int failed = 0;
  json_object *o = model_json(NULL, forest, schema, MODEL_DETAILS, &failed);
  return finish_tree(o, failed, body);
}

int api_encode_models_v1(const api_model_meta_t *metas, const grove_forest_t *const *forests,
                         size_t n, api_body_t *body) {
  int failed = 0;
  json_object *root = json_object_new_object(), *models = json_object_new_array();
  for (size_t i = 0; i < n && models != NULL; i++)
    push(models, model_json(&metas[i], forests[i], NULL, MODEL_SERVED, &failed), &failed);
  add(root, "models", models, &failed);
  return finish_tree(root, failed, body);
}

/* OIP's "<project>_<format>" platform name for the model's file format. */
static const char *oip_platform(const char *format) {
  static const char *const platforms[][2] = {{"xgboost", "grove_xgboost"},
                                             {"lightgbm", "grove_lightgbm"},
                                             {"scikit-learn", "grove_sklearn"}};
  for (size_t i = 0; i < sizeof platforms / sizeof platforms[0]; i++)
    if (format != NULL && strncmp(format, platforms[i][0], strlen(platforms[i][0])) == 0)
      return platforms[i][1];
  return "grove_trees";
}

/* A tensor of shape [-1], [-1, COLUMNS] or, with GROUPS > 1, [-1, GROUPS, COLUMNS]. */
static json_object *tensor_meta(const char *name, const char *datatype, int64_t groups,
                                int64_t columns, int *failed) {
  json_object *t = json_object_new_object(), *shape = json_object_new_array();
  add(t, "name", json_object_new_string(name), failed);
  add(t, "datatype", json_object_new_string(datatype), failed);
  push(shape, json_object_new_int64(-1), failed);
  if (groups > 1) push(shape, json_object_new_int64(groups), failed);
  if (columns != 0) push(shape, json_object_new_int64(columns), failed);
  add(t, "shape", shape, failed);
  return t;
}

int api_encode_model_v2(const api_model_meta_t *meta, const grove_forest_t *forest,
                        const grove_schema_t *schema, api_body_t *body) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  int failed = 0;
  json_object *root = json_object_new_object(), *versions = json_object_new_array();
  add(root, "name", new_string(meta->name), &failed);
  push(versions, json_object_new_string(API_OIP_MODEL_VERSION), &failed);
  add(root, "versions", versions, &failed);
  add(root, "platform", json_object_new_string(oip_platform(info.format)), &failed);

  json_object *inputs = json_object_new_array();
  push(inputs, tensor_meta("input", "FP32", 1, info.num_features, &failed), &failed);
  add(root, "inputs", inputs, &failed);

  json_object *outputs = json_object_new_array();
  /* Contributions are listed only for a model that can give them. */
  grove_error_t gerr;
  const int explainable = grove_forest_explainable(forest, &gerr) == GROVE_OK;
  for (int kind = 0; kind < API_OUT_KINDS; kind++) {
    if (kind == API_OUT_CONTRIBS && !explainable) continue;
    api_oip_output_meta_t o;
    api__oip_output_meta(forest, schema, kind, &o);
    /* Explanations keep their columns even when there is one: [-1, 1]. */
    int64_t columns = o.columns == 1 && kind < API_OUT_CONTRIBS ? 0 : o.columns;
    push(outputs, tensor_meta(o.name, o.datatype, o.groups, columns, &failed), &failed);
  }
  add(root, "outputs", outputs, &failed);

  /* What the tensors above do not say: the other shape of request and what each output
   * holds (OIP parameters: strings). */
  char names[160], text[512];
  json_object *params = json_object_new_object();
  snprintf(text, sizeof text,
           "one FP32 tensor \"input\" [rows, %u], or one input per feature named after it, "
           "shape [rows] (BYTES for category strings): %s",
           info.num_features, api__feature_list(forest, schema, names, sizeof names));
  add(params, "inputs", json_object_new_string(text), &failed);
  add(params, "outputs",
      json_object_new_string(
          "predict: class labels for classifiers, else the values (MLServer's predict); "
          "predict_proba: probabilities, [P(0), P(1)] for binary classifiers as scikit-learn "
          "gives them, or the values (MLServer's predict_proba); output__0: the same as "
          "predict_proba (Triton's tree backend); parameters.margin=true: raw scores; "
          "contributions (asked for by name): each row's TreeSHAP values in margin space, one "
          "per feature and then the bias, per class for multi-class models; leaves (asked for "
          "by name): the leaf each row reaches in each tree, as the model's library numbers "
          "them"),
      &failed);
  /* Parameters are free-form strings in OIP: the reason the contributions output is
   * missing fits there without touching the tensor metadata. */
  if (!explainable) add(params, "explain_error", new_string(gerr.msg), &failed);
  add(root, "parameters", params, &failed);
  return finish_tree(root, failed, body);
}
