# The README's two commands: `make run` and `make test`. Everything else is
# for developers. Both install missing Debian packages first.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DLOCKQ_WERROR=ON
endif
JOBS ?= $(shell nproc)
DATA_DIR ?= ./lockq-data

.PHONY: all deps build run test test-quick asan bench fuzz clean format

all: build

deps:
	@scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# Single node on the default ports (RESP 6379, AMQP 5672, HTTP 15672).
run: build
	$(BUILD)/src/server/lockqd --data-dir $(DATA_DIR)

# Every test: unit, simulation (quick mode under CI), integration with real
# processes, fuzz (brief). LOCKQ_LONG=1 makes simulation and fuzz run longer.
test: build
	scripts/install-node-deps
	scripts/run-tests $(BUILD)

asan: deps
	$(MAKE) BUILD=build-asan BUILD_TYPE=Debug CMAKE_FLAGS="-DLOCKQ_SANITIZE=ON" build
	scripts/install-node-deps
	scripts/run-tests build-asan

# The benchmark tools (bench/CMakeLists.txt) are not part of `build`.
bench: build
	cmake --build $(BUILD) --target benchmarks -j $(JOBS)
	bench/run-all

fuzz: deps
	LOCKQ_LONG=1 tests/fuzz/run-fuzzers

clean:
	rm -rf build build-asan build-fuzz

format:
	find src tests include bench -name '*.h' -o -name '*.cc' | xargs clang-format -i
