/* rng.c — PCG32 (O'Neill 2014, pcg-random.org): explicit state, no globals. */
#include "internal.h"

#include <math.h>

void gb_rng_seed(gb_rng *r, uint64_t seed, uint64_t stream) {
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    gb_rng_u32(r);
    r->state += seed;
    gb_rng_u32(r);
}

uint32_t gb_rng_u32(gb_rng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

float gb_rng_uniform(gb_rng *r) { return (gb_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float gb_rng_normal(gb_rng *r) {
    /* Box-Muller; one value per call keeps the state sequence simple. */
    float u1 = (gb_rng_u32(r) + 1.0f) * (1.0f / 4294967297.0f);
    float u2 = gb_rng_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

uint32_t gb_rng_below(gb_rng *r, uint32_t n) {
    /* Lemire's debiased threshold method. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t x = gb_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}
