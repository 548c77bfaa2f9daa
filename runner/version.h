/* version.h -- the commit this binary was built from.
 *
 * nnl_git_commit is defined in a file the Makefile generates
 * ($(BUILD)/gen/version.c) and rewrites only when `git rev-parse HEAD` or
 * the worktree's -dirty mark changed, so that after any incremental build
 * runs.git_commit and `nnlab --version` name the commit actually built,
 * while an unchanged commit recompiles nothing. "" when built outside git. */
#ifndef NNLAB_RUNNER_VERSION_H
#define NNLAB_RUNNER_VERSION_H

extern const char nnl_git_commit[];

#endif
