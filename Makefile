# trim - the front door. The real build is CMake (CMakeLists.txt); this file names the jobs.
#
#   make deps                      install the Debian packages trim needs (idempotent)
#   make                           build everything into build/
#   make test                      build and run the whole test suite (ctest)
#   make train MODEL=sicknet       train on Fashion-MNIST (also MODEL=mobilenet_v1, mobilenet_v2, resnet18)
#   make demo                      train, prune, fine-tune, compare: the whole pipeline
#   make arm                       cross-build static aarch64 tools and bench/latency
#   make arm-peer                  cross-build the XNNPACK peer (bench/arm/arm_cost.py --peer)
#   make test SANITIZE=1           the test suite under AddressSanitizer + UBSan (build-sanitize/)
#   make test TSAN=1               the threaded tests under ThreadSanitizer (build-tsan/, clang-14)
#   make fuzz FUZZ_SECONDS=600     every parser fuzzed with libFuzzer for that long (fuzz/run.sh)
#   make deps-peers                node + onnxruntime-node for bench/peers and the ONNX Runtime test
#
# Variables pass through: EPOCHS, BATCH, LR, THREADS, DATA, OUT, SEED, CLASSES, EXTRA.

BUILD    ?= build
JOBS     ?= $(shell nproc)
MODEL    ?= sicknet
THREADS  ?= $(shell nproc)
SANITIZE ?= 0
CMAKE_FLAGS ?=

DEB_PACKAGES = cmake g++ make libopenblas-dev libstb-dev libgtest-dev libbenchmark-dev \
               zlib1g-dev dataset-fashion-mnist \
               libonnx-dev libprotobuf-dev python3-torch libopenmpi-dev openmpi-bin
# libonnx-dev + libprotobuf-dev: ONNX import/export (interop/, tools/convert; host builds only).
# python3-torch: the tests that build networks in PyTorch and export them to ONNX (test_onnx_torch).
# libopenmpi-dev + openmpi-bin: data-parallel training and scans (distributed/, docs/distributed.md).
DEB_ARM_PACKAGES = g++-aarch64-linux-gnu qemu-user
DEB_FUZZ_PACKAGES = clang-14 libclang-rt-14-dev libomp-14-dev

# ThreadSanitizer (docs/hardening.md): the threaded tests only, built by clang-14 so that OpenMP is
# LLVM's libomp, which tells TSAN about its barriers and locks (libgomp does not: every parallel
# region would be a false report). Needs clang-14 and libomp-14-dev (in the fuzz packages).
TSAN ?= 0
TSAN_TESTS ?= test_engine|test_determinism|test_batcher|test_train_e2e|test_optimizer|test_layers_conv
ifeq ($(TSAN),1)
  BUILD := build-tsan
  CMAKE_FLAGS += -DTRIM_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
    -DCMAKE_CXX_COMPILER=clang++-14 -DTRIM_TEST_FILTER='$(TSAN_TESTS)'
  BUILD_TARGETS = $(shell ls tests | sed -n 's/\.cpp$$//p' | grep -E '$(TSAN_TESTS)')
  # A report fails the test (exitcode 66); the OpenMP runtime's own (uninstrumented) accesses and
  # OpenBLAS's pthreads are left out, as libomp asks; the engine's worker pool runs 2 threads.
  export TSAN_OPTIONS ?= ignore_noninstrumented_modules=1 halt_on_error=1 second_deadlock_stack=1
  export OPENBLAS_NUM_THREADS ?= 1
endif

ifeq ($(SANITIZE),1)
  BUILD := build-sanitize
  ARM_BUILD ?= build-arm-sanitize
  CMAKE_FLAGS += -DTRIM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
  # Leak checks on (test-arm turns them off: LeakSanitizer does not run under qemu-user); a UBSan
  # report aborts the test (-fno-sanitize-recover) with its stack. No suppressions: docs/hardening.md.
  export ASAN_OPTIONS ?= detect_leaks=1
  export UBSAN_OPTIONS ?= print_stacktrace=1
endif

.PHONY: all build deps deps-arm deps-peers test train demo arm arm-peer test-arm fuzz clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES) $(DEB_ARM_PACKAGES) $(DEB_FUZZ_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# ONNX Runtime for bench/peers (compare.py, byom.sh) and the ONNX Runtime test in test_onnx:
# node + npm from Debian, onnxruntime-node from npm into bench/peers/node_modules (not committed).
deps-peers:
	@command -v npm >/dev/null || $(MAKE) --no-print-directory deps DEB_PACKAGES="nodejs npm" DEB_ARM_PACKAGES= DEB_FUZZ_PACKAGES=
	cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	@# Named targets (TSAN) must exist: re-run the configure step so new test files are known.
	$(if $(BUILD_TARGETS),cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null &&) cmake --build $(BUILD) -j $(JOBS) $(if $(BUILD_TARGETS),--target $(BUILD_TARGETS))

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(if $(filter 1,$(SANITIZE)),-E test_distributed)
	@if [ "$(TSAN)" = 1 ]; then echo "make test TSAN=1: x86 only (ThreadSanitizer does not run under qemu-user)"; \
	elif command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64 >/dev/null; then \
	  $(MAKE) --no-print-directory test-arm; \
	else echo "make test: aarch64 cross tool chain not installed, Arm tests not run (make deps installs it)"; fi

# Arm: the kernel tests cross-built for Armv8.0-A and run under qemu-aarch64 -cpu cortex-a53.
ARM_BUILD ?= build-arm
# The target's zlib (model-file checksums, .gz data sets) is not part of the cross tool chain:
# deps-arm unpacks Debian's arm64 zlib1g-dev under $(ARM_SYSROOT) (private apt state, dpkg's
# architecture list untouched) and the cross builds link its static libz.a.
ARM_SYSROOT ?= build-arm-sysroot
ARM_ZLIB = -DZLIB_INCLUDE_DIR=$(CURDIR)/$(ARM_SYSROOT)/usr/include \
  -DZLIB_LIBRARY=$(CURDIR)/$(ARM_SYSROOT)/usr/lib/aarch64-linux-gnu/libz.a
deps-arm:
	@[ -f $(ARM_SYSROOT)/usr/lib/aarch64-linux-gnu/libz.a ] || ./cmake/fetch-arm64-debs.sh $(ARM_SYSROOT) zlib1g-dev zlib1g

test-arm: deps deps-arm
	cmake -S . -B $(ARM_BUILD) -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
	  -DTRIM_TEST_FILTER='$(ARM_TESTS)' $(ARM_ZLIB) $(CMAKE_FLAGS)
	cmake --build $(ARM_BUILD) -j $(JOBS) --target $(ARM_TEST_TARGETS)
	cd $(ARM_BUILD) && $(if $(filter 1,$(SANITIZE)),ASAN_OPTIONS=detect_leaks=0) ctest --output-on-failure -j $(JOBS)
ARM_TESTS ?= test_kernel|test_engine
# Only the test binaries ctest runs (the tools and benches are make arm's job).
ARM_TEST_TARGETS = $(shell ls tests | sed -n 's/\.cpp$$//p' | grep -E '$(ARM_TESTS)')

arm: deps deps-arm
	cmake -S . -B build-arm-static -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake -DTRIM_STATIC=ON \
	  -DTRIM_TEST_FILTER='^$$' $(ARM_ZLIB)
	cmake --build build-arm-static -j $(JOBS) --target latency train eval prune
	@echo "aarch64 binaries: build-arm-static/bin/{latency,train,eval,prune} (static; copy to the board)"

# The XNNPACK peer on Arm (bench/peers/xnnpack_peer, a dynamic binary in $(ARM_BUILD)): Debian's
# arm64 XNNPACK packages unpacked under $(ARM_SYSROOT) like the zlib above. Optional: used by
# bench/arm/arm_cost.py --peer, which says so and skips when it is missing.
ARM_XNNPACK_DEBS = libxnnpack-dev libxnnpack0 libpthreadpool-dev libpthreadpool0 libcpuinfo0
arm-peer: deps deps-arm
	@[ -f $(ARM_SYSROOT)/usr/include/xnnpack.h ] && [ -f $(ARM_SYSROOT)/usr/include/pthreadpool.h ] || \
	  ./cmake/fetch-arm64-debs.sh $(ARM_SYSROOT) $(ARM_XNNPACK_DEBS)
	cmake -S . -B $(ARM_BUILD) -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
	  -DTRIM_TEST_FILTER='$(ARM_TESTS)' $(ARM_ZLIB) -DXNNPACK_ROOT=$(CURDIR)/$(ARM_SYSROOT) $(CMAKE_FLAGS)
	cmake --build $(ARM_BUILD) -j $(JOBS) --target xnnpack_peer

# Training on Fashion-MNIST (default) or DATA=<folder>.
EPOCHS  ?=
BATCH   ?=
LR      ?=
DATA    ?=
OUT     ?= runs/$(MODEL)
SEED    ?=
CLASSES ?=
EXTRA   ?=
TRAIN_ARGS = --model $(MODEL) --out $(OUT) --threads $(THREADS) \
  $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(BATCH),--batch $(BATCH)) $(if $(LR),--lr $(LR)) \
  $(if $(DATA),--data $(DATA)) $(if $(SEED),--seed $(SEED)) $(if $(CLASSES),--classes $(CLASSES)) $(EXTRA)

train: build
	$(BUILD)/bin/train $(TRAIN_ARGS)

demo: build
	./tools/demo.sh

# Fuzzing (clang + libFuzzer + ASan + UBSan, in build-fuzz/): each target for FUZZ_SECONDS,
# niced; FUZZ_TARGETS picks some (model_desc weights prune_config idx image val_labels).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_TARGETS)

clean:
	rm -rf build build-sanitize build-tsan build-arm build-arm-sanitize build-arm-static build-fuzz
