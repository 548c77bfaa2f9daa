# nnlab -- build, test, benchmark.
#
#   make deps       install the Debian packages (apt, sudo when not root)
#   make            build ./nnlab
#   make test       build and run every test in tests/ (cmocka)
#   make bench      time nnlab against the PyTorch peer, side by side
#   make install PREFIX=/usr/local
#   make clean
#
# Dependencies come from pkg-config: libyaml, SQLite, zlib, cmocka and the
# OpenMP build of OpenBLAS (Debian's libopenblas-openmp-dev), whose threads
# cooperate with ours instead of fighting them.

CC       ?= cc
PREFIX   ?= /usr/local
OPT      ?= -O3 -march=native
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
BUILD    ?= build
ifeq ($(WERROR),1)
WARN     += -Werror
endif

OPENBLAS_PC := /usr/lib/x86_64-linux-gnu/openblas-openmp/pkgconfig
PKGS     := yaml-0.1 sqlite3 zlib
BLAS_CFLAGS := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBDIR := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) pkg-config --variable=libdir openblas 2>/dev/null)
BLAS_LIBS   := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) pkg-config --libs openblas 2>/dev/null) -Wl,-rpath,$(BLAS_LIBDIR)
DEP_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEP_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)

GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
VERSION  := 0.1.0

ALL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -fopenmp -MMD -MP $(BLAS_CFLAGS) $(DEP_CFLAGS) \
              -DNNLAB_VERSION='"$(VERSION)"' -DNNLAB_GIT_COMMIT='"$(GIT_COMMIT)"'
LDLIBS   := $(DEP_LIBS) $(BLAS_LIBS) -fopenmp -lm

NN_SRC     := $(wildcard nn/*.c)
RUNNER_SRC := $(filter-out runner/main.c,$(wildcard runner/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)
NN_OBJ     := $(NN_SRC:%.c=$(BUILD)/%.o)
RUNNER_OBJ := $(RUNNER_SRC:%.c=$(BUILD)/%.o)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test bench install clean deps deps-check
all: deps-check nnlab

deps-check:
	@for p in $(PKGS) cmocka; do pkg-config --exists $$p || \
	  { echo "missing: $$p (run: make deps)"; exit 1; }; done
	@test -n "$(BLAS_LIBDIR)" || { echo "missing: OpenBLAS, OpenMP build (run: make deps)"; exit 1; }

deps:
	./scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

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

clean:
	rm -rf $(BUILD) nnlab

-include $(NN_OBJ:.o=.d) $(RUNNER_OBJ:.o=.d) $(BUILD)/runner/main.d
