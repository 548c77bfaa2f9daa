/* fuzz_experiment.c -- experiment YAML in, an error or a plan out.
 *
 * The input is written to SCRATCH/e/x.yaml, beside a link SCRATCH/configs
 * to the repository's configs/, so the shipped experiments' relative
 * `base: ../configs/lenet5.yaml` resolves. A plan that loads must have runs
 * with distinct keys; an error must be one line. */
#include <limits.h>
#include <sys/stat.h>
#include "fuzz.h"
#include "../runner/config/experiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        char cwd[PATH_MAX], link[600], sub[600];
        const char *d = fuzz_scratch();
        if (!getcwd(cwd, sizeof cwd)) abort();
        snprintf(link, sizeof link, "%s/configs", d);
        snprintf(sub, sizeof sub, "%s/configs", cwd);
        if (symlink(sub, link) && access(link, F_OK)) abort();
        snprintf(sub, sizeof sub, "%s/e", d);
        mkdir(sub, 0755);
        ready = 1;
    }
    const char *path = fuzz_write("e/x.yaml", data, size);
    char err[1024];
    nnl_plan plan;
    if (nnl_plan_load(path, NULL, 0, &plan, err, sizeof err)) {
        FUZZ_ASSERT(err[0] && !strchr(err, '\n'), "error is not one line: [%s]", err);
        return 0;
    }
    FUZZ_ASSERT(plan.nruns > 0 && plan.nruns <= NNL_MAX_PLAN, "%d runs", plan.nruns);
    for (int i = 0; i < plan.nruns && i < 64; i++)
        for (int j = i + 1; j < plan.nruns && j < 64; j++)
            FUZZ_ASSERT(strcmp(plan.runs[i].key, plan.runs[j].key), "runs %d and %d share a key", i, j);
    nnl_plan_free(&plan);
    return 0;
}
