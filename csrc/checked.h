/* checked.h: size arithmetic that cannot overflow, for the shape checks of the entry points.
 *
 * Every size a kernel derives from the caller's dimensions (element counts, padded extents,
 * workspace sizes) is computed with pc_smul / pc_sadd first. They saturate at PC_SIZE_MAX = 2^62
 * instead of wrapping, so a chain of them is checked once at the end (`< PC_SIZE_MAX`), and any
 * index the loops later form from sizes below it (a sum or difference of two) still fits int64.
 */
#ifndef PYCONV_CHECKED_H
#define PYCONV_CHECKED_H

#include <stdint.h>

#define PC_SIZE_MAX ((int64_t)1 << 62)

/* a * b for a, b >= 0, or PC_SIZE_MAX when the product reaches it (or an operand is negative) */
static inline int64_t pc_smul(int64_t a, int64_t b)
{
    int64_t r;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r) || r > PC_SIZE_MAX)
        return PC_SIZE_MAX;
    return r;
}

/* a + b for a, b >= 0, saturating like pc_smul */
static inline int64_t pc_sadd(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || a >= PC_SIZE_MAX || b >= PC_SIZE_MAX - a)
        return PC_SIZE_MAX;
    return a + b;
}

static inline int64_t pc_smul3(int64_t a, int64_t b, int64_t c) { return pc_smul(pc_smul(a, b), c); }

static inline int64_t pc_smul4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    return pc_smul(pc_smul(a, b), pc_smul(c, d));
}

#endif
