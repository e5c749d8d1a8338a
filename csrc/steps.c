/* steps.c: the kernel ladder's tables by primitive name (see steps.h). */
#include <string.h>

#include "pyconv.h"
#include "steps.h"

static const pc_step_table *const g_tables[] = {
    &pc_conv2d_forward_steps,   &pc_conv2d_backward_input_steps, &pc_conv2d_backward_weight_steps,
    &pc_matmul_steps,           &pc_max_pool2d_forward_steps,    &pc_min_pool2d_forward_steps,
    &pc_avg_pool2d_forward_steps,
};

static const pc_step_table *find(const char *primitive)
{
    for (size_t i = 0; primitive && i < sizeof g_tables / sizeof g_tables[0]; i++)
        if (strcmp(g_tables[i]->primitive, primitive) == 0)
            return g_tables[i];
    return NULL;
}

int pc_kernel_steps(const char *primitive)
{
    const pc_step_table *t = find(primitive);
    return t ? t->count : 0;
}

const char *pc_kernel_step_doc(const char *primitive, int step)
{
    const pc_step_table *t = find(primitive);
    return t && step >= 1 && step <= t->count ? t->steps[step - 1].doc : NULL;
}

const char *pc_kernel_step_name(const char *primitive, int step)
{
    const pc_step_table *t = find(primitive);
    return t && step >= 1 && step <= t->count ? t->steps[step - 1].name : NULL;
}
