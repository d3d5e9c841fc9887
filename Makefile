# gibbon — plain Makefile.
#   make                 release build: build/release/{libgibbon.a,gibbon,tests/}
#   make BUILD=asan      ASan + UBSan build in build/asan
#   make CC=clang        the same with clang (warnings are errors with both)
#   make test            build and run every test (unit, gradcheck, CLI)

BUILD ?= release
CC ?= cc
OUT := build/$(BUILD)$(if $(filter clang,$(CC)),-clang,)$(if $(filter 1,$(MPI)),-mpi,)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE := -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc -I$(OUT)/gen -MMD -MP
ifeq ($(BUILD),asan)
  # -march as in release: the sanitizers then check the AVX2 kernels that ship.
  OPT := -O1 -g -march=x86-64-v3 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDOPT := -fsanitize=address,undefined
else ifeq ($(BUILD),fuzz)
  # clang only: the library instrumented for libFuzzer (make BUILD=fuzz CC=clang fuzz)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  LDOPT := -fsanitize=address,undefined
else
  OPT := -O3 -g -march=x86-64-v3 -ffp-contract=off
  LDOPT :=
endif
CFLAGS_ALL := $(BASE) $(WARN) $(OPT) $(CFLAGS)
LIBS := -lopenblas -lprotobuf-c -lpng -lz -lm -fopenmp $(LDOPT)

ONNX_PROTO := /usr/include/onnx/onnx.proto
GEN_C := $(OUT)/gen/onnx.pb-c.c
GEN_H := $(OUT)/gen/onnx.pb-c.h

LIB_SRC := $(shell find src -name '*.c' | sort)
CLI_SRC := $(shell find cli -name '*.c' 2>/dev/null | sort)
TEST_SRC := $(shell find tests -maxdepth 1 -name 'test_*.c' | sort)
TEST_HELPERS := $(filter-out $(TEST_SRC),$(shell find tests -maxdepth 1 -name '*.c' | sort))

LIB_OBJ := $(LIB_SRC:%.c=$(OUT)/obj/%.o) $(OUT)/obj/gen/onnx.pb-c.o
CLI_OBJ := $(CLI_SRC:%.c=$(OUT)/obj/%.o)
HELPER_OBJ := $(TEST_HELPERS:%.c=$(OUT)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(OUT)/tests/%)

all: $(OUT)/libgibbon.a $(OUT)/gibbon $(TEST_BIN)

$(GEN_C) $(GEN_H): $(ONNX_PROTO)
	@mkdir -p $(OUT)/gen
	cd $(dir $(ONNX_PROTO)) && protoc-c --c_out=$(CURDIR)/$(OUT)/gen onnx.proto

$(OUT)/obj/gen/onnx.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(OPT) -w -c $< -o $@

$(OUT)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(OUT)/libgibbon.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/gibbon: $(CLI_OBJ) $(OUT)/libgibbon.a
	$(CC) $(OPT) -o $@ $^ $(LIBS)

# make MPI=1 BUILD=<name>: the CLI compiled and linked with mpicc and -DGB_MPI, in build/<name>-mpi
# (cli/dist_mpi.c: `mpirun -n K gibbon eval ...`); the library stays MPI-free.
ifeq ($(MPI),1)
$(CLI_OBJ): private CFLAGS_ALL += -DGB_MPI
$(CLI_OBJ) $(OUT)/gibbon: private override CC := OMPI_CC=$(CC) mpicc
endif

$(OUT)/tests/%: $(OUT)/obj/tests/%.o $(HELPER_OBJ) $(OUT)/libgibbon.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

test: all
	GIBBON=$(OUT)/gibbon TESTBIN=$(OUT)/tests bash tests/run_all.sh

clean:
	rm -rf build

.PHONY: all test clean
.SECONDARY:
-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)

# Benchmarks (not part of all/test): make bench → $(OUT)/bench/bench_cnn; bench/run.sh runs them.
# make bench_onnx → $(OUT)/bench/bench_onnx; bench/bench_onnx.sh runs it.
BENCH_SRC := $(filter-out bench/bench_onnx.c bench/bench_oracle.c bench/bench_pool.c,$(shell find bench -maxdepth 1 -name '*.c' 2>/dev/null | sort))
BENCH_OBJ := $(BENCH_SRC:%.c=$(OUT)/obj/%.o)

bench: $(OUT)/bench/bench_cnn

$(OUT)/bench/bench_cnn: $(BENCH_OBJ) $(OUT)/libgibbon.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

bench_onnx: $(OUT)/bench/bench_onnx

$(OUT)/bench/bench_onnx: $(OUT)/obj/bench/bench_onnx.o $(OUT)/libgibbon.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

# make bench_pool → $(OUT)/bench/bench_pool: gb_maxpool2x2_plane ns/output, old loop vs current.
bench_pool: $(OUT)/bench/bench_pool

$(OUT)/bench/bench_pool: $(OUT)/obj/bench/bench_pool.o $(OUT)/libgibbon.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

.PHONY: bench bench_onnx bench_pool

# libFuzzer target over the ONNX loader (tests/fuzz/fuzz_onnx.c; tests/cli_fuzz.sh runs it):
#   make BUILD=fuzz CC=clang fuzz  ->  build/fuzz-clang/fuzz/fuzz_onnx
fuzz: $(OUT)/fuzz/fuzz_onnx

$(OUT)/fuzz/fuzz_onnx: $(OUT)/obj/tests/fuzz/fuzz_onnx.o $(OUT)/libgibbon.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -fsanitize=fuzzer -o $@ $^ $(LIBS)

.PHONY: fuzz
