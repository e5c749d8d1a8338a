/* steps.h: the table of the kernel ladder's steps, one per primitive.
 *
 * Each kernel file defines the table of its primitive next to its dispatch: entry i describes
 * step i + 1 (1 is the naive loop nest). steps.c maps primitive names to these tables for
 * pc_kernel_steps and pc_kernel_step_doc, which the Python side reads to list the steps.
 */
#ifndef PYCONV_STEPS_H
#define PYCONV_STEPS_H

typedef struct {
    const char *name;   /* short name, e.g. "im2col+blocked" */
    const char *doc;    /* one line: what this step adds to the one before */
} pc_step_info;

/* The table of one primitive: `count` steps; the default is the last. */
typedef struct {
    const char *primitive;
    const pc_step_info *steps;
    int count;
} pc_step_table;

extern const pc_step_table pc_conv2d_forward_steps;
extern const pc_step_table pc_conv2d_backward_input_steps;
extern const pc_step_table pc_conv2d_backward_weight_steps;
extern const pc_step_table pc_matmul_steps;
extern const pc_step_table pc_max_pool2d_forward_steps;
extern const pc_step_table pc_min_pool2d_forward_steps;
extern const pc_step_table pc_avg_pool2d_forward_steps;

/* The step an entry point runs for the caller's `step`: the table's default (its last) for 0,
 * `step` itself for 1..count, 0 (invalid: the entry point returns PC_EINVAL) otherwise. */
static inline int pc_step_choose(const pc_step_table *t, int step)
{
    if (step == 0)
        return t->count;
    return step >= 1 && step <= t->count ? step : 0;
}

#define PC_STEP_COUNT(table) ((int)(sizeof(table) / sizeof((table)[0])))

#endif
