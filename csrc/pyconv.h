/* pyconv.h: the C kernels of pyconv's "c" backend.
 *
 * Size letters: x (N,C,H,W) input, w (K,C,R,S) filters, y (N,K,P,Q) output.
 * Every array is C-contiguous; the Python side (pyconv/backends/c_omp.py) validates dtype, rank,
 * shapes and contiguity before calling. Each kernel exists for float (_f32) and double (_f64).
 *
 * The kernel ladder: conv2d (three directions), pooling forward and matmul exist as numbered
 * steps, 1 the plain loop nest, each next step adding one idea, the highest the fast default.
 * Their entry points take `step` (0 for the default, else 1..pc_kernel_steps(name)) and write the
 * step that actually ran to `*ran` (when not NULL): a fast step that does not apply to a shape
 * falls back to a lower one, and says so there. Each file's header lists its steps and what
 * they measured; steps.c holds the table of their names and one-line descriptions.
 *
 * Return codes: PC_OK, PC_ENOMEM (a workspace could not be allocated), PC_EINVAL (an argument the
 * Python side should have rejected: a step outside 0..pc_kernel_steps(name), a pooling index
 * outside its plane, a negative size, a size whose element count or padded extent would
 * overflow; every entry point checks its sizes with checked.h before it indexes anything),
 * PC_ENOTIMPL (a lab's stub in a student copy: see pyconv/lab.py).
 *
 * Threads: pc_set_num_threads(n), n <= 0 for the default. In a process forked after a kernel
 * ran in parallel, every kernel runs single-threaded (pc_forked_single_threaded() says so):
 * OpenMP's thread pool does not survive fork.
 *
 * The block between the two "cdef" marker lines is read by pyconv/_build_c.py and handed to
 * cffi's cdef(), which understands no preprocessor lines: keep it plain declarations.
 */
#ifndef PYCONV_H
#define PYCONV_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */
enum { PC_OK = 0, PC_ENOMEM = 1, PC_EINVAL = 2, PC_ENOTIMPL = 3 };

typedef struct {
    int64_t N, C, H, W;     /* input */
    int64_t K, R, S;        /* filters */
    int64_t P, Q;           /* output */
    int64_t sh, sw;         /* stride */
    int64_t pt, pl;         /* top and left padding (bottom/right only shape P and Q) */
    int64_t dh, dw;         /* dilation */
} pc_conv_shape;

typedef struct {
    int64_t N, C, H, W;     /* input */
    int64_t R, S;           /* window */
    int64_t P, Q;           /* output */
    int64_t sh, sw;         /* stride */
    int64_t ph, pw;         /* symmetric padding */
} pc_pool_shape;

int pc_openmp_enabled(void);
void pc_set_num_threads(int n);
int pc_get_num_threads(void);
int pc_forked_single_threaded(void);
const char *pc_build_info(void);

/* Bytes of the per-thread workspaces the kernels keep between calls (they grow, never shrink),
 * and their release (call between kernels only: pyconv.empty_cache() does). */
size_t pc_workspace_bytes(void);
void pc_workspace_release(void);

/* The kernel ladder (steps.c): how many steps `primitive` has, and step `step`'s short name and
 * one-line description (NULL for an unknown primitive or step). */
int pc_kernel_steps(const char *primitive);
const char *pc_kernel_step_name(const char *primitive, int step);
const char *pc_kernel_step_doc(const char *primitive, int step);

/* This machine's FMA peak in GFLOP/s on `threads` threads, measured for about `seconds` (peak.c). */
double pc_peak_gflops_f32(int threads, double seconds);
double pc_peak_gflops_f64(int threads, double seconds);

int pc_conv2d_forward_f32(const pc_conv_shape *s, const float *x, const float *w, const float *b, float *y, int step, int *ran);
int pc_conv2d_forward_f64(const pc_conv_shape *s, const double *x, const double *w, const double *b, double *y, int step, int *ran);
int pc_conv2d_backward_input_f32(const pc_conv_shape *s, const float *dy, const float *w, float *dx, int step, int *ran);
int pc_conv2d_backward_input_f64(const pc_conv_shape *s, const double *dy, const double *w, double *dx, int step, int *ran);
int pc_conv2d_backward_weight_f32(const pc_conv_shape *s, const float *dy, const float *x, float *dw, int step, int *ran);
int pc_conv2d_backward_weight_f64(const pc_conv_shape *s, const double *dy, const double *x, double *dw, int step, int *ran);
int pc_conv2d_backward_bias_f32(const pc_conv_shape *s, const float *dy, float *db);
int pc_conv2d_backward_bias_f64(const pc_conv_shape *s, const double *dy, double *db);

int pc_max_pool2d_forward_f32(const pc_pool_shape *s, const float *x, float *y, int64_t *idx, int step, int *ran);
int pc_max_pool2d_forward_f64(const pc_pool_shape *s, const double *x, double *y, int64_t *idx, int step, int *ran);
int pc_min_pool2d_forward_f32(const pc_pool_shape *s, const float *x, float *y, int64_t *idx, int step, int *ran);
int pc_min_pool2d_forward_f64(const pc_pool_shape *s, const double *x, double *y, int64_t *idx, int step, int *ran);
int pc_index_pool2d_backward_f32(const pc_pool_shape *s, const float *dy, const int64_t *idx, float *dx);
int pc_index_pool2d_backward_f64(const pc_pool_shape *s, const double *dy, const int64_t *idx, double *dx);
int pc_avg_pool2d_forward_f32(const pc_pool_shape *s, const float *x, float *y, int step, int *ran);
int pc_avg_pool2d_forward_f64(const pc_pool_shape *s, const double *x, double *y, int step, int *ran);
int pc_avg_pool2d_backward_f32(const pc_pool_shape *s, const float *dy, float *dx);
int pc_avg_pool2d_backward_f64(const pc_pool_shape *s, const double *dy, double *dx);

int pc_matmul_f32(int64_t B, int64_t M, int64_t N, int64_t K,
                  const float *a, int64_t a_rs, int64_t a_cs,
                  const float *b, int64_t b_rs, int64_t b_cs, float *c, int step, int *ran);
int pc_matmul_f64(int64_t B, int64_t M, int64_t N, int64_t K,
                  const double *a, int64_t a_rs, int64_t a_cs,
                  const double *b, int64_t b_rs, int64_t b_cs, double *c, int step, int *ran);
/* Elementwise (elementwise.c): y = relu(x); dx = dy where y > 0, else 0. n contiguous elements. */
int pc_relu_forward_f32(int64_t n, const float *x, float *y);
int pc_relu_forward_f64(int64_t n, const double *x, double *y);
int pc_relu_backward_f32(int64_t n, const float *dy, const float *y, float *dx);
int pc_relu_backward_f64(int64_t n, const double *dy, const double *y, double *dx);

/* Optimizer updates of one parameter in place (optim.c; the rules of pyconv/optim/adam.py and
 * sgd.py). vmax (amsgrad) and buf (momentum) may be NULL. */
typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    int64_t step;           /* t, from 1 */
    int decoupled;          /* AdamW: decay p itself instead of adding weight_decay * p to g */
    int maximize;
} pc_adam_hyper;

typedef struct {
    double lr, momentum, dampening, weight_decay;
    int nesterov, maximize;
    int first;              /* buf = g (the first step with momentum) */
} pc_sgd_hyper;

int pc_adam_step_f32(int64_t n, float *p, const float *g, float *m, float *v, float *vmax, const pc_adam_hyper *h);
int pc_adam_step_f64(int64_t n, double *p, const double *g, double *m, double *v, double *vmax, const pc_adam_hyper *h);
int pc_sgd_step_f32(int64_t n, float *p, const float *g, float *buf, const pc_sgd_hyper *h);
int pc_sgd_step_f64(int64_t n, double *p, const double *g, double *buf, const pc_sgd_hyper *h);
/* Batch normalisation over axis 1 of (N, C, L) arrays (batchnorm.c; pyconv/ops/normalization.py's
 * rules). Forward: training computes mean, var (biased; may be NULL) and invstd, else reads mean
 * and invstd; weight, bias may be NULL. Backward (from x, mean, invstd): dx, dweight, dbias may
 * each be NULL. */
int pc_batch_norm_forward_f32(int64_t N, int64_t C, int64_t L, const float *x, const float *weight, const float *bias, int training, double eps, float *mean, float *var, float *invstd, float *y);
int pc_batch_norm_forward_f64(int64_t N, int64_t C, int64_t L, const double *x, const double *weight, const double *bias, int training, double eps, double *mean, double *var, double *invstd, double *y);
int pc_batch_norm_backward_f32(int64_t N, int64_t C, int64_t L, const float *dy, const float *x, const float *mean, const float *invstd, const float *weight, int training, float *dx, float *dweight, float *dbias);
int pc_batch_norm_backward_f64(int64_t N, int64_t C, int64_t L, const double *dy, const double *x, const double *mean, const double *invstd, const double *weight, int training, double *dx, double *dweight, double *dbias);
/* cdef-end */

#endif
