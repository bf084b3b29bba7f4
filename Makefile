# trim - the front door. The real build is CMake (CMakeLists.txt); this file names the jobs.
#
#   make deps                      install the Debian packages trim needs (idempotent)
#   make                           build everything into build/
#   make test                      build and run the whole test suite (ctest)
#   make train MODEL=sicknet       train on Fashion-MNIST (also MODEL=mobilenet_v1)
#   make demo                      train, prune, fine-tune, compare: the whole pipeline
#   make arm                       cross-build static aarch64 tools and bench/latency
#
# Variables pass through: EPOCHS, BATCH, LR, THREADS, DATA, OUT, SEED, CLASSES, EXTRA.

BUILD    ?= build
JOBS     ?= $(shell nproc)
MODEL    ?= sicknet
THREADS  ?= $(shell nproc)
SANITIZE ?= 0
CMAKE_FLAGS ?=

DEB_PACKAGES = cmake g++ make libopenblas-dev libstb-dev libgtest-dev libbenchmark-dev \
               zlib1g-dev dataset-fashion-mnist
DEB_ARM_PACKAGES = g++-aarch64-linux-gnu qemu-user

ifeq ($(SANITIZE),1)
  BUILD := build-sanitize
  CMAKE_FLAGS += -DTRIM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
endif

.PHONY: all build deps deps-arm test train demo arm test-arm clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES) $(DEB_ARM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@if command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64 >/dev/null; then \
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
	cmake --build $(ARM_BUILD) -j $(JOBS)
	cd $(ARM_BUILD) && ctest --output-on-failure -j $(JOBS)
ARM_TESTS ?= test_kernel|test_engine

arm: deps deps-arm
	cmake -S . -B build-arm-static -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake -DTRIM_STATIC=ON \
	  -DTRIM_TEST_FILTER='^$$' $(ARM_ZLIB)
	cmake --build build-arm-static -j $(JOBS) --target latency train eval prune
	@echo "aarch64 binaries: build-arm-static/bin/{latency,train,eval,prune} (static; copy to the board)"

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

clean:
	rm -rf build build-sanitize build-arm build-arm-static
