/*
 * The split positions of complete trees in post-order (children first, left before right):
 * the order of the trees-in-lanes walks' way up (explain_trees_avx512.c, explain_trees_avx2.c).
 * A file of its own so that the walks, which explain.c calls, call nothing of explain.c's.
 */
#include <pthread.h>

#include "explain.h"

static uint8_t post_order[9][255];
static pthread_once_t post_order_once = PTHREAD_ONCE_INIT;

static uint32_t post_order_fill(uint8_t *order, uint32_t n, uint32_t p, uint32_t level,
                                uint32_t depth) {
  if (level == depth) return n;
  n = post_order_fill(order, n, 2 * p + 1, level + 1, depth);
  n = post_order_fill(order, n, 2 * p + 2, level + 1, depth);
  order[n] = (uint8_t)p;
  return n + 1;
}

static void post_order_init(void) {
  for (uint32_t d = 1; d <= 8; d++) post_order_fill(post_order[d], 0, 0, 0, d);
}

const uint8_t *grove__shap_post_order(uint32_t depth) {
  pthread_once(&post_order_once, post_order_init);
  return post_order[depth];
}
