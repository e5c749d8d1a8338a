/* instantiate.h: compiles the including kernel file's kernels once per element type.
 *
 * A kernel file is written once, in terms of REAL (float or double), IREAL (the integer of the
 * same width, for vector masks), NR (the micro-kernel's panel width for REAL, gemm.h) and
 * SFX(name) (name_f32 or name_f64). Its first pass, with REAL undefined, defines PC_SELF to its
 * own file name and includes this header, which includes the file again once per type. No
 * include guard: each kernel file includes it exactly once.
 */
#define REAL float
#define IREAL int32_t
#define SFX(name) name##_f32
#define NR PC_NR_f32
#include PC_SELF
#undef REAL
#undef IREAL
#undef SFX
#undef NR

#define REAL double
#define IREAL int64_t
#define SFX(name) name##_f64
#define NR PC_NR_f64
#include PC_SELF
#undef REAL
#undef IREAL
#undef SFX
#undef NR
#undef PC_SELF
