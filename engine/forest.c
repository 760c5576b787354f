/* Freeing a forest, and its accessors. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "builder.h"
#include "explain.h"
#include "kernels/kernels.h"

int grove__forest_attach_lanes(grove_forest_t *f) {
  f->tops6_lanes = NULL;
  if (!grove__top6_lanes_wanted(f)) return 0;
  /* 16 trees' tables of 768 bytes: a multiple of the alignment */
  int32_t *lanes =
      aligned_alloc(GROVE_FOREST_ALIGN, grove__top6_lanes_words(f->info.num_trees) * sizeof *lanes);
  if (lanes == NULL) return -1;
  grove__top6_lanes_fill(f, lanes);
  f->tops6_lanes = lanes;
  return 0;
}

int grove__forest_attach_derived(grove_forest_t *f) {
  /* The explanations' per-node arrays (a cover ratio and split facts) count first against the
   * budget the trees-in-lanes tables are built within. */
  if (f->cover_ratios != NULL)
    f->info.explain_memory_bytes =
        f->info.num_nodes * (sizeof *f->cover_ratios + sizeof *f->shap_flags);
  if (grove__forest_attach_lanes(f) == 0 && grove__cat_codes_attach(f) == 0 &&
      grove__ranks_attach(f) == 0 && grove__shap_blocks_build(f) == 0) {
    f->info.kernel_memory_bytes =
        (f->tops6_lanes ? grove__top6_lanes_words(f->info.num_trees) * sizeof *f->tops6_lanes : 0) +
        (f->cat_codes ? sizeof *f->cat_codes + f->cat_codes->count * sizeof(uint32_t) : 0) +
        (f->ranks ? f->ranks->bytes : 0);
    return 0;
  }
  free(f->tops6_lanes);
  f->tops6_lanes = NULL;
  free(f->cat_codes);
  f->cat_codes = NULL;
  free(f->ranks);
  f->ranks = NULL;
  return -1;
}

void grove_forest_free(grove_forest_t *f) {
  if (f == NULL) return;
  free(f->explain_alloc);
  free(f->shap_alloc);
  free(f->tops6_lanes);
  free(f->cat_codes);
  free(f->ranks);
  if (f->image_map != NULL) munmap(f->image_map, f->image_map_bytes);
  free(f);
}

void grove_forest_get_info(const grove_forest_t *f, grove_forest_info_t *info) { *info = f->info; }

const char *grove_forest_feature_name(const grove_forest_t *f, uint32_t i) {
  if (f->feature_names == NULL || i >= f->info.num_features) return NULL;
  return f->feature_names[i];
}

grove_feature_type_t grove_forest_feature_type(const grove_forest_t *f, uint32_t i) {
  return i < f->info.num_features ? (grove_feature_type_t)f->feature_types[i]
                                  : GROVE_FEATURE_NUMERIC;
}

int32_t grove_forest_feature_index(const grove_forest_t *f, const char *name) {
  if (f->feature_names == NULL) return -1;
  for (uint32_t i = 0; i < f->info.num_features; i++)
    if (strcmp(f->feature_names[i], name) == 0) return (int32_t)i;
  return -1;
}

uint32_t grove_forest_output_width(const grove_forest_t *f, int margin) {
  return margin ? f->info.num_groups : f->info.num_outputs;
}

uint32_t grove_forest_category_bound(const grove_forest_t *f, uint32_t i) {
  uint32_t bound = 0;
  for (uint64_t n = 0; n < f->info.num_nodes; n++) {
    const grove_node_t *node = &f->nodes[n];
    if (!grove__node_is_split(f->leaf64, node) || node->feature != (int32_t)i ||
        !(node->flags & GROVE_NODE_CATEGORICAL))
      continue;
    const grove_cat_set_t *s = &f->cat_sets[node->flags >> GROVE_NODE_CAT_SHIFT];
    for (uint32_t w = s->nwords; w-- > 0;) {
      const uint32_t word = f->cat_words[s->offset + w];
      if (word == 0) continue;
      const uint32_t top = w * 32 + 31 - (uint32_t)__builtin_clz(word) + 1;
      if (top > bound) bound = top;
      break;
    }
  }
  return bound;
}
