# lth top-level entry points. `make demo` and `make test` work on a fresh Debian machine.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# make demo MODEL=minilm: the demo on the real all-MiniLM-L6-v2 checkpoint (scripts/fetch-model).
MODEL ?=

.PHONY: all deps configure build lth test demo reproduce clean asan

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j 1 --timeout 1800

# Only the binary (not the tests and benchmarks): what the demo and the reproduction need.
lth: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target lth

demo: lth
	LTH_DEMO_MODEL=$(MODEL) scripts/demo

# The lottery-ticket study on all-MiniLM-L6-v2 (hours; budget knobs in scripts/reproduce).
reproduce: lth
	scripts/reproduce

# Our code with AddressSanitizer + UBSan, in its own build tree.
asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLTH_SANITIZE=ON -DLTH_BUILD_BENCH=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j 1

clean:
	rm -rf $(BUILD_DIR)
