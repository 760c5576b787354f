/*
 * Internal: the set of floats next to a LightGBM forest's thresholds, which
 * grove_forest_input_value() (input.c) consults to map a double input to the float the
 * kernels see; the builder fills it.
 */
#ifndef GROVE_INPUT_H
#define GROVE_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* Slots of the set for NUM_THRESHOLDS thresholds: a power of two, at most a quarter full. */
uint64_t grove__near_slots(size_t num_thresholds);

/*
 * Fills SET (SLOTS zeroed slots) with, for each threshold t of each of the NF features
 * (feature j's are THRESHOLDS[OFFSETS[j] .. OFFSETS[j + 1])), the largest float <= t and
 * the float after it: the only floats a double input can round to across t.
 */
void grove__near_fill(uint64_t *set, uint64_t slots, const double *thresholds,
                      const uint32_t *offsets, uint32_t nf);

#endif /* GROVE_INPUT_H */
