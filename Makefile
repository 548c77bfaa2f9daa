# nnlab -- build, test, benchmark.
#
#   make deps       install the Debian packages (apt, sudo when not root)
#   make            build ./nnlab
#   make test       build and run every test in tests/ (cmocka)
#   make bench      time nnlab against the PyTorch peer, side by side
#   make install PREFIX=/usr/local
#   make clean
#
# Dependencies come from pkg-config: libyaml, SQLite, zlib and cmocka.
#
# One binary for every x86-64 CPU: nothing is built for the build machine's
# CPU (-march=native is gone). Each file in nn/kern/ is compiled once per
# path -- portable (baseline x86-64, or the target's own on arm64), AVX2+FMA
# and AVX-512 -- and nn/isa.c picks the best the CPU runs, at start.
# -ffp-contract=off is not optional: a compiler that fused a*b+c where it
# liked would give other bits on another path or with other inlining.

CC       ?= cc
PREFIX   ?= /usr/local
OPT      ?= -O3
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
BUILD    ?= build
ifeq ($(WERROR),1)
WARN     += -Werror
endif

PKGS     := yaml-0.1 sqlite3 zlib
DEP_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEP_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)

GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
VERSION  := 0.1.0

# -ffp-contract=off: no fma but those written out (the same bits on every path);
# -fno-math-errno: sqrtf may be one instruction, so loops with it vectorize
# (Adam's step); IEEE's sqrt is exact either way, and no caller reads errno
ALL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -ffp-contract=off -fno-math-errno -fopenmp -MMD -MP $(DEP_CFLAGS) \
              -DNNLAB_VERSION='"$(VERSION)"' -DNNLAB_GIT_COMMIT='"$(GIT_COMMIT)"'
LDLIBS   := $(DEP_LIBS) -fopenmp -lm

# the kernel paths this target carries, and each one's flags
ifneq (,$(findstring x86_64,$(shell $(CC) -dumpmachine)))
KERN_ISAS := portable avx2 avx512
else
KERN_ISAS := portable
endif
ISA_FLAGS_portable := -DNN_KERN_PORTABLE
ISA_FLAGS_avx2     := -DNN_KERN_AVX2 -mavx2 -mfma
ISA_FLAGS_avx512   := -DNN_KERN_AVX512 -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma

KERN_SRC   := $(wildcard nn/kern/*.c)
KERN_OBJ   := $(foreach i,$(KERN_ISAS),$(KERN_SRC:%.c=$(BUILD)/%.$(i).o))
NN_SRC     := $(wildcard nn/*.c)
RUNNER_SRC := $(filter-out runner/main.c,$(wildcard runner/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)
NN_OBJ     := $(NN_SRC:%.c=$(BUILD)/%.o) $(KERN_OBJ)
RUNNER_OBJ := $(RUNNER_SRC:%.c=$(BUILD)/%.o)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test bench install clean deps deps-check test-asan valgrind fuzz fuzz-build kill-campaign test-slurm test-arm64
all: deps-check nnlab

deps-check:
	@for p in $(PKGS) cmocka; do pkg-config --exists $$p || \
	  { echo "missing: $$p (run: make deps)"; exit 1; }; done

deps:
	./scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

define kern_rule
$(BUILD)/nn/kern/%.$(1).o: nn/kern/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) $$(ISA_FLAGS_$(1)) -c $$< -o $$@
endef
$(foreach i,$(KERN_ISAS),$(eval $(call kern_rule,$(i))))

$(BUILD)/libnn.a: $(NN_OBJ)
	$(AR) rcs $@ $^
$(BUILD)/librunner.a: $(RUNNER_OBJ)
	$(AR) rcs $@ $^

nnlab: $(BUILD)/runner/main.o $(BUILD)/librunner.a $(BUILD)/libnn.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/librunner.a $(BUILD)/libnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# Each test binary runs from the repository root (fixtures are in tests/).
test: all $(TEST_BIN)
	@./tests/run.sh $(TEST_BIN)

bench: all
	./tests/bench.sh

install: nnlab
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 nnlab $(DESTDIR)$(PREFIX)/bin/nnlab
	install -d $(DESTDIR)$(PREFIX)/share/nnlab/plots
	install -m 644 plots/*.gp $(DESTDIR)$(PREFIX)/share/nnlab/plots

clean:
	rm -rf $(BUILD) nnlab $(ARM_BUILD)

-include $(NN_OBJ:.o=.d) $(RUNNER_OBJ:.o=.d) $(BUILD)/runner/main.d

# ---- hardening: sanitizers, valgrind, fuzzing, fault campaigns -------------
#
#   make test-asan      every test with AddressSanitizer + UBSan (gcc or clang),
#                       in build-asan/, against build-asan/nnlab-bin
#   make valgrind       a short training run under valgrind memcheck
#   make fuzz           libFuzzer (clang) on the config, experiment and IDX
#                       readers, FUZZ_TIME seconds each, one at a time
#   make kill-campaign  kill -9 at random points, KILL_TRIALS times
#
# Tests run the binary NNLAB_BIN names (default ./nnlab), so these builds
# keep to their own folders and leave ./nnlab alone.

$(BUILD)/nnlab-bin: $(BUILD)/runner/main.o $(BUILD)/librunner.a $(BUILD)/libnn.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

SAN_BUILD  ?= build-asan
SAN_CFLAGS ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
# Any report aborts the process, so a child nnlab's report fails its test.
SAN_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 \
           LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
SAN_TESTS := $(TEST_SRC:tests/%.c=$(SAN_BUILD)/tests/%)

test-asan: deps-check
	$(MAKE) BUILD=$(SAN_BUILD) CFLAGS="$(SAN_CFLAGS)" $(SAN_BUILD)/nnlab-bin $(SAN_TESTS)
	@env NNLAB_BIN=$(SAN_BUILD)/nnlab-bin $(SAN_ENV) ./tests/run.sh $(SAN_TESTS)

# valgrind 3.19 does not know AVX-512, and its CPUID says so: under it the
# binary picks its AVX2 kernels by itself.
VG_BUILD ?= build-valgrind
valgrind: deps-check
	$(MAKE) BUILD=$(VG_BUILD) OPT="-O2" $(VG_BUILD)/nnlab-bin
	./tests/valgrind.sh $(VG_BUILD)/nnlab-bin

FUZZ_BUILD  ?= build-fuzz
FUZZ_CC     ?= clang
FUZZ_CFLAGS ?= -O1 -g -Wno-pass-failed -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined
FUZZ_TIME   ?= 600
FUZZ_TARGETS := config experiment idx checkpoint db

$(BUILD)/fuzz/%: fuzz/%.c fuzz/fuzz.h $(BUILD)/librunner.a $(BUILD)/libnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/librunner.a $(BUILD)/libnn.a $(LDLIBS)

fuzz-build: deps-check
	$(MAKE) CC=$(FUZZ_CC) BUILD=$(FUZZ_BUILD) CFLAGS="$(FUZZ_CFLAGS)" \
	  $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/fuzz_%)

fuzz: fuzz-build
	./fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ_TARGETS)

# test_faults preloads this shim to kill nnlab inside checkpoint writes; it
# is built plain (no sanitizer) so it can go first in an ASan process.
$(BUILD)/tests/faultinject.so: tests/faultinject.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -fPIC -shared $(WARN) -o $@ $< -ldl
$(BUILD)/tests/test_faults: | $(BUILD)/tests/faultinject.so

KILL_TRIALS ?= 40
kill-campaign: all $(BUILD)/tests/test_faults
	NNLAB_KILL_TRIALS=$(KILL_TRIALS) $(BUILD)/tests/test_faults

# ---- arm64: the portable path built for another architecture ----------------
#
#   make test-arm64     cross-compiles nn/ and tests/crossbits.c for arm64
#                       (Debian's gcc-aarch64-linux-gnu; where the compiler
#                       may use NEON), runs it under qemu-user and checks that
#                       every network trains to the same bits as every path
#                       here (install: gcc-aarch64-linux-gnu qemu-user)

ARM_CC    ?= aarch64-linux-gnu-gcc
ARM_BUILD ?= build-arm64
ARM_SRC   := $(filter-out nn/checkpoint.c,$(NN_SRC)) $(KERN_SRC) tests/crossbits.c  # checkpoints need zlib

$(BUILD)/tests/crossbits: tests/crossbits.c tests/archs.h $(BUILD)/libnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libnn.a -fopenmp -lm

test-arm64: $(BUILD)/tests/crossbits
	@mkdir -p $(ARM_BUILD)
	$(ARM_CC) -O3 -std=gnu11 -ffp-contract=off -fopenmp -static $(WARN) -DNN_KERN_PORTABLE \
	  -o $(ARM_BUILD)/crossbits $(ARM_SRC) -lm
	$(BUILD)/tests/crossbits > $(ARM_BUILD)/here.txt
	qemu-aarch64 $(ARM_BUILD)/crossbits > $(ARM_BUILD)/arm64.txt
	@cat $(ARM_BUILD)/here.txt $(ARM_BUILD)/arm64.txt
	@awk 'NR == FNR { h[$$1] = h[$$1] " " $$3; next } { split(h[$$1], a, " "); \
	      for (i in a) if (a[i] != $$3) { print "arm64: " $$1 " trained to other bits than here"; bad = 1 } } \
	      END { if (bad) exit 1; print "arm64: every network the same bits as every path here" }' \
	  $(ARM_BUILD)/here.txt $(ARM_BUILD)/arm64.txt

# ---- Slurm: `nnlab sweep --slurm` against a real one-node cluster ----------
#
#   make test-slurm     starts munged, slurmctld and slurmd on this machine
#                       (root; Debian's slurm-wlm and munge), runs a job-array
#                       sweep with a cancelled task, resubmits and merges
#                       (tests/test_slurm.sh, under a minute), then stops them

SLURM_BUILD ?= build-slurm
test-slurm: deps-check
	$(MAKE) BUILD=$(SLURM_BUILD) $(SLURM_BUILD)/nnlab-bin
	NNLAB_BIN=$(SLURM_BUILD)/nnlab-bin ./tests/test_slurm.sh
