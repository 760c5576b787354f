/* The tiny model shared by fuzz targets: one tree over features x, colour (categorical), z. */
#ifndef GROVE_FUZZ_TINY_MODEL_H
#define GROVE_FUZZ_TINY_MODEL_H

#include "grove_engine.h"

/* One tree: x < 0.5 ? (colour in {1, 3} ? 0.3 : -0.2) : 0.7, over features x, colour, z. */
#define TINY_MODEL(FEATURE_NAMES, FEATURE_TYPES)                                                 \
  "{\"learner\":{" FEATURE_NAMES FEATURE_TYPES                                                   \
  "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":\"1\","        \
  "\"num_trees\":\"1\"},\"tree_info\":[0],\"trees\":[{"                                          \
  "\"left_children\":[1,3,-1,-1,-1],\"right_children\":[2,4,-1,-1,-1],"                          \
  "\"split_indices\":[0,1,0,0,0],\"split_conditions\":[0.5,0,0.7,0.3,-0.2],"                     \
  "\"default_left\":[1,0,0,0,0],\"split_type\":[0,1,0,0,0],\"categories\":[1,3],"                \
  "\"categories_nodes\":[1],\"categories_segments\":[0],\"categories_sizes\":[2],"               \
  "\"tree_param\":{\"num_nodes\":\"5\",\"size_leaf_vector\":\"0\"}}]},\"name\":\"gbtree\"},"     \
  "\"learner_model_param\":{\"base_score\":\"5E-1\",\"num_class\":\"0\",\"num_feature\":\"3\"}," \
  "\"objective\":{\"name\":\"binary:logistic\"}},\"version\":[1,7,4]}"

static const char named_model[] = TINY_MODEL("\"feature_names\":[\"x\",\"colour\",\"z\"],",
                                             "\"feature_types\":[\"q\",\"c\",\"q\"],");
static const char unnamed_model[] = TINY_MODEL("", "");

static char *colour_names[] = {"red", "green", "blue", "cyan"};
static char *tiny_label_names[] = {"no", "yes"};
static char *tiny_missing_tokens[] = {"?"};
static grove_schema_feature_t tiny_schema_features[3] = {
    {.name = "x", .type = GROVE_FEATURE_NUMERIC},
    {.name = "colour",
     .type = GROVE_FEATURE_CATEGORICAL,
     .categories = colour_names,
     .num_categories = 4},
    {.name = "z", .type = GROVE_FEATURE_NUMERIC},
};
/* The tiny model's schema: category strings, labels, and "?" as a missing-value token. */
static const grove_schema_t tiny_schema = {.labels = tiny_label_names,
                                           .num_labels = 2,
                                           .features = tiny_schema_features,
                                           .num_features = 3,
                                           .missing = tiny_missing_tokens,
                                           .num_missing = 1};

#endif /* GROVE_FUZZ_TINY_MODEL_H */
