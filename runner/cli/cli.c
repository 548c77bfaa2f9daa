/* cli.c -- the option table of every command, the parser that reads a
 * command line against a command's part of it, and the --help written from
 * the same part (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "experiment.h"
#include "names.h"

typedef enum {
    ARG_FLAG,       /* --quiet: the int is set to 1 */
    ARG_STR,        /* --db PATH: the const char * */
    ARG_INT,        /* --jobs N: an int from lo to hi */
    ARG_SET,        /* --set KEY=VALUE: one more override (repeatable) */
    ARG_LIST        /* --sbatch-arg ARG: one more string (repeatable) */
} arg_kind;

typedef struct {
    const char *name;               /* the long name, without -- */
    char letter;                    /* -j; 0 for none */
    arg_kind kind;
    const char *value;              /* its value in the help: "PATH"; NULL for a flag */
    size_t at;                      /* where it goes in nnl_args */
    int lo, hi;                     /* ARG_INT: the range */
    int sbatch;                     /* the value becomes an #SBATCH line: no control character */
    const char *help;               /* the help line(s), unless the command gives its own */
} option;

#define AT(f) offsetof(nnl_args, f)

static const option options[NNL_OPT_COUNT] = {
    [NNL_OPT_SET] = {"set", 0, ARG_SET, "KEY=VALUE", AT(sets), 0, 0, 0,
                     "override a config value, e.g. --set train.lr=0.01 (repeatable;\n"
                     "KEY is dotted as in 'nnlab check --print')"},
    [NNL_OPT_DB] = {"db", 0, ARG_STR, "PATH", AT(db), 0, 0, 0, "the database (default " NNL_DEFAULT_DB ")"},
    [NNL_OPT_DATA] = {"data", 0, ARG_STR, "DIR", AT(data), 0, 0, 0,
                      "the FashionMNIST folder (same as --set data.dir=DIR; default:\n"
                      "$NNLAB_DATA, else /usr/share/datasets/fashion-mnist)"},
    [NNL_OPT_QUIET] = {"quiet", 0, ARG_FLAG, NULL, AT(quiet), 0, 0, 0, "no per-epoch lines"},
    [NNL_OPT_PRINT] = {"print", 0, ARG_FLAG, NULL, AT(print), 0, 0, 0, "print what would be done"},
    [NNL_OPT_EXPERIMENT] = {"experiment", 0, ARG_STR, "NAME", AT(experiment), 0, 0, 0,
                            "only the runs of this experiment"},
    [NNL_OPT_JOBS] = {"jobs", 'j', ARG_INT, "N", AT(jobs), 1, 64, 0, "training processes at once (default 1)"},
    [NNL_OPT_DRY_RUN] = {"dry-run", 0, ARG_FLAG, NULL, AT(dry_run), 0, 0, 0,
                         "print the plan and each run's status; write nothing"},
    [NNL_OPT_CSV] = {"csv", 0, ARG_FLAG, NULL, AT(csv), 0, 0, 0, "comma-separated, for spreadsheets"},
    [NNL_OPT_BY] = {"by", 0, ARG_STR, "KEY", AT(by), 0, 0, 0,
                    "one row per value of the grid key KEY, its runs pooled over the\n"
                    "other keys (the effect of KEY averaged over them)"},
    [NNL_OPT_RESUME] = {"resume", 0, ARG_STR, "RUN", AT(resume), 0, 0, 0,
                        "continue an interrupted, failed, diverged or pruned run from its\n"
                        "last checkpoint, with its own config"},
    [NNL_OPT_OUT] = {"out", 0, ARG_STR, "DIR", AT(out), 0, 0, 0, "the output folder"},
    [NNL_OPT_SLURM] = {"slurm", 0, ARG_FLAG, NULL, AT(slurm), 0, 0, 0,
                       "run it as a Slurm job array instead (nnlab sweep x --slurm --help)"},
    [NNL_OPT_PARTITION] = {"partition", 0, ARG_STR, "P", AT(partition), 0, 0, 1,
                           "sbatch --partition (default: the cluster's default)"},
    [NNL_OPT_TIME] = {"time", 0, ARG_STR, "T", AT(time), 0, 0, 1, "sbatch --time, per task, e.g. 2:00:00"},
    [NNL_OPT_CPUS] = {"cpus-per-task", 0, ARG_INT, "C", AT(cpus), 1, 4096, 0,
                      "cores per task (default 1); a task trains with C threads"},
    [NNL_OPT_PARALLEL] = {"array-parallel", 0, ARG_INT, "M", AT(parallel), 1, 1000000, 0,
                          "at most M tasks at once (--array=...%M)"},
    [NNL_OPT_PER_TASK] = {"runs-per-task", 0, ARG_INT, "K", AT(per_task), 1, NNL_MAX_PLAN, 0,
                          "K runs per task, run one after the other (default 1)"},
    [NNL_OPT_SBATCH_ARG] = {"sbatch-arg", 0, ARG_LIST, "ARG", AT(sbatch_args), 0, NNL_MAX_SBATCH_ARGS, 1,
                            "one more '#SBATCH ARG' line, e.g. --sbatch-arg=--mem=2G\n(repeatable)"},
    [NNL_OPT_WAIT] = {"wait", 0, ARG_FLAG, NULL, AT(wait), 0, 0, 0,
                      "wait for the array to end (polling squeue), then merge\n"
                      "the shards into the database (nnlab merge)"},
    [NNL_OPT_RETRIES] = {"retries", 0, ARG_INT, "N", AT(retries), 0, 100, 0,
                         "with --wait: submit again up to N times while runs are\n"
                         "unfinished (a task timed out or was preempted)"},
    [NNL_OPT_POLL] = {"poll", 0, ARG_INT, "SECONDS", AT(poll), 1, 3600, 0,
                      "with --wait: how often to ask squeue (default 10)"},
    [NNL_OPT_SHARDS] = {"shards", 0, ARG_STR, "DIR", AT(shards), 0, 0, 0,
                        "the shards' folder"},
    [NNL_OPT_TASK] = {"task", 0, ARG_INT, "I", AT(task), 0, NNL_MAX_PLAN, 0, "this array task's index"},
    [NNL_OPT_NTASKS] = {"ntasks", 0, ARG_INT, "N", AT(ntasks), 1, NNL_MAX_PLAN, 0, "the array's number of tasks"},
    [NNL_OPT_PLAN] = {"plan", 0, ARG_STR, "HASH", AT(plan_hash), 0, 0, 0,
                      "refuse to run if the experiment's plan is no longer the one\n"
                      "submitted (the file was edited in between)"},
};

static void defaults(nnl_args *a) {
    memset(a, 0, sizeof *a);
    a->db = NNL_DEFAULT_DB;
    a->jobs = a->cpus = a->per_task = 1;
    a->poll = 10;
    a->task = a->ntasks = -1;
}

static int takes(const nnl_command *cmd, nnl_opt_id id) {
    for (int i = 0; i < NNL_CMD_MAX_OPTS && cmd->opts[i].id; i++)
        if (cmd->opts[i].id == id) return 1;
    return 0;
}

/* The option --name (len chars) names: exact, else a unique prefix, among
 * every command's options; NNL_OPT_NONE, or -1 when the prefix is ambiguous. */
static int find_long(const char *name, size_t len) {
    int found = NNL_OPT_NONE, n = 0;
    for (int i = 1; i < NNL_OPT_COUNT; i++) {
        if (strncmp(options[i].name, name, len)) continue;
        if (strlen(options[i].name) == len) return i;
        found = i;
        n++;
    }
    return n > 1 ? -1 : found;
}

static int bad(const nnl_command *cmd, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "nnlab %s: ", cmd->name);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

/* the value v of option o (typed as `as`) into a */
static int take_value(const nnl_command *cmd, const option *o, const char *as, char *v, nnl_args *a) {
    char *field = (char *)a + o->at;
    if (o->sbatch) {
        /* a newline would end the #SBATCH line and make the rest a command of
         * the job script; other control characters have no business there */
        const char *why = nnl_text_problem(v, 4096, 0);
        if (why) {
            fprintf(stderr, "nnlab %s: %s: the value %s; it goes into an #SBATCH line of the job script\n",
                    cmd->name, as, why);
            return 2;
        }
    }
    switch (o->kind) {
    case ARG_FLAG: *(int *)field = 1; return 0;
    case ARG_STR: *(const char **)field = v; return 0;
    case ARG_INT: {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < o->lo || x > o->hi) {
            fprintf(stderr, "nnlab %s: %s %s: expected a whole number from %d to %d\n", cmd->name, as, v, o->lo,
                    o->hi);
            return 2;
        }
        *(int *)field = (int)x;
        return 0;
    }
    case ARG_SET:
        if (nnl_cli_set(cmd->name, v, a->sets, &a->nsets, NNL_MAX_SETS)) return 2;
        a->set_text[a->nsets - 1] = v;
        return 0;
    case ARG_LIST:
        if (a->nsbatch == o->hi) {
            fprintf(stderr, "nnlab %s: more than %d --%s options\n", cmd->name, o->hi, o->name);
            return 2;
        }
        a->sbatch_args[a->nsbatch++] = v;
        return 0;
    }
    return 2;
}

/* one option at argv[*i]; *i moves past its value */
static int take_option(const nnl_command *cmd, int argc, char **argv, int *i, nnl_args *a) {
    char *arg = argv[*i], *value = NULL, as[64];
    int id;
    if (arg[1] == '-') {
        char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (eq) value = eq + 1;
        if (len == 4 && !strncmp(arg + 2, "help", 4)) id = -2;
        else id = find_long(arg + 2, len);
        snprintf(as, sizeof as, "%.*s", (int)len + 2, arg);
    } else {
        id = NNL_OPT_NONE;
        for (int k = 1; k < NNL_OPT_COUNT && !id; k++)
            if (options[k].letter && options[k].letter == arg[1]) id = k;
        if (arg[1] == 'h' && !arg[2]) id = -2;
        if (id > 0 && arg[2]) value = arg + 2;
        snprintf(as, sizeof as, "-%c", arg[1]);
    }
    if (id == -2) {
        nnl_cli_help(cmd, stdout);
        a->help = 1;
        return 0;
    }
    if (id == -1) return bad(cmd, "option '%s' is ambiguous (see 'nnlab %s --help')", as, cmd->name);
    if (id == NNL_OPT_NONE) return bad(cmd, "unknown option '%s' (see 'nnlab %s --help')", arg, cmd->name);
    if (!takes(cmd, (nnl_opt_id)id)) {
        fprintf(stderr, "nnlab %s: option '%s' does not apply to %s (see 'nnlab %s --help')\n", cmd->name, as,
                cmd->name, cmd->name);
        return 2;
    }
    const option *o = &options[id];
    if (o->kind == ARG_FLAG) {
        if (value) return bad(cmd, "option '%s' takes no value (see 'nnlab %s --help')", as, cmd->name);
        return take_value(cmd, o, as, NULL, a);
    }
    if (!value) {
        if (*i + 1 >= argc) return bad(cmd, "option '%s' needs a value (see 'nnlab %s --help')", as, cmd->name);
        value = argv[++*i];
    }
    return take_value(cmd, o, as, value, a);
}

int nnl_cli_parse(const nnl_command *cmd, int argc, char **argv, nnl_args *a) {
    defaults(a);
    /* the arguments that are not options, moved to the front of argv + 1 in order */
    int npos = 0, i;
    for (i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (!strcmp(arg, "--")) { i++; break; }
        if (arg[0] != '-' || !arg[1]) {
            argv[1 + npos++] = arg;
            continue;
        }
        int rc = take_option(cmd, argc, argv, &i, a);
        if (rc || a->help) return rc;
    }
    while (i < argc) argv[1 + npos++] = argv[i++];
    a->pos = argv + 1;
    a->npos = npos;
    a->positional = npos ? a->pos[0] : NULL;
    if (npos < cmd->min_args)
        return bad(cmd, "expected %s (see 'nnlab %s --help')", cmd->missing ? cmd->missing : "an argument",
                   cmd->name);
    if (cmd->max_args >= 0 && npos > cmd->max_args) {
        fprintf(stderr, "nnlab %s: unexpected argument '%s'\n", cmd->name, a->pos[cmd->max_args]);
        return 2;
    }
    return 0;
}

/* "--name VALUE" or "-j N, --jobs N" */
static int opt_label(const option *o, char *out, size_t n) {
    char one[48];
    snprintf(one, sizeof one, "--%s%s%s", o->name, o->value ? " " : "", o->value ? o->value : "");
    if (o->letter) return snprintf(out, n, "-%c %s, %s", o->letter, o->value ? o->value : "", one);
    return snprintf(out, n, "%s", one);
}

/* the usage line from the arguments and options, wrapped at 80 columns */
static void usage_line(const nnl_command *cmd, FILE *f) {
    int col = fprintf(f, "usage: nnlab %s%s%s", cmd->name, cmd->args ? " " : "", cmd->args ? cmd->args : "");
    for (int i = 0; i < NNL_CMD_MAX_OPTS && cmd->opts[i].id; i++) {
        const option *o = &options[cmd->opts[i].id];
        char word[64];
        int rep = o->kind == ARG_SET || o->kind == ARG_LIST;
        int len = o->letter ? snprintf(word, sizeof word, "[-%c %s]", o->letter, o->value)
                            : snprintf(word, sizeof word, "[--%s%s%s]%s", o->name, o->value ? " " : "",
                                       o->value ? o->value : "", rep ? "..." : "");
        if (col + 1 + len > 100) col = fprintf(f, "\n        ") - 1;
        col += fprintf(f, " %s", word);
    }
    fputc('\n', f);
}

void nnl_cli_help(const nnl_command *cmd, FILE *f) {
    if (cmd->usage) fputs(cmd->usage, f);
    else usage_line(cmd, f);
    if (cmd->about) fprintf(f, "\n%s", cmd->about);
    int width = 0;
    for (int i = 0; i < NNL_CMD_MAX_OPTS && cmd->opts[i].id; i++) {
        char label[96];
        int n = opt_label(&options[cmd->opts[i].id], label, sizeof label);
        if (n > width) width = n;
    }
    if (width) fputc('\n', f);
    for (int i = 0; i < NNL_CMD_MAX_OPTS && cmd->opts[i].id; i++) {
        const option *o = &options[cmd->opts[i].id];
        char label[96];
        opt_label(o, label, sizeof label);
        fprintf(f, "  %-*s  ", width, label);
        for (const char *h = cmd->opts[i].help ? cmd->opts[i].help : o->help; *h; h++) {
            fputc(*h, f);
            if (*h == '\n') fprintf(f, "  %-*s  ", width, "");
        }
        fputc('\n', f);
    }
    if (cmd->after) fprintf(f, "\n%s", cmd->after);
}
