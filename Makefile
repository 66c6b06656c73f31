# Thin front for CMake and the local stack scripts (deploy/local). `make help` lists targets.
BUILD ?= build
BUILD_TEST ?= build-test
BUILD_FUZZ ?= build-fuzz
FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
FUZZ_TARGETS ?=
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
PYTEST_FLAGS ?= -q

.PHONY: help setup build build-test build-fuzz run up down status test unit system js js-unit \
	client-test browser codegen screenshots fuzz fuzz-ci test-deploy test-trace clean clean-all

help:
	@echo "make setup      install packages, Kafka jars and the Python test venv (idempotent)"
	@echo "make build      configure and build into $(BUILD)/ (Ninja, $(BUILD_TYPE))"
	@echo "make run        setup + build, start the whole stack in the foreground (Ctrl-C stops)"
	@echo "make up|down|status   start / stop / show the local stack in the background"
	@echo "make test       sanitizer build in $(BUILD_TEST)/, unit tests (ctest), system tests (pytest),"
	@echo "                the JavaScript client's and browser tests (make js); CI then runs make fuzz-ci"
	@echo "make unit       unit tests only (ctest on $(BUILD_TEST)/)"
	@echo "make test-trace one POST = one trace of four spans in a real Jaeger (tests/trace; builds"
	@echo "                Jaeger from the Go module proxy once: long on a fresh machine; not in make test)"
	@echo "make js         JS client unit tests, then client and browser tests on one real stack"
	@echo "make client-test | make browser   only the client / only the browser tests (real stack)"
	@echo "make codegen    regenerate examples/models.{js,d.ts} from config/models.json"
	@echo "make screenshots  docs/img/*.png of the examples, taken in chromium on a fresh stack"
	@echo "make fuzz       libFuzzer harnesses (clang, $(BUILD_FUZZ)/), FUZZ_SECONDS=$(FUZZ_SECONDS) per target,"
	@echo "                FUZZ_JOBS=$(FUZZ_JOBS) at a time, FUZZ_TARGETS= (all); make fuzz-ci: 30 s each, 2 at a time"
	@echo "make test-deploy  the image, docker compose and the Helm chart on a local Kubernetes,"
	@echo "                  run for real (root; builds its tools once into /var/cache/modelcast-deploy)"
	@echo "make clean      remove build trees; make clean-all also removes var/ (stack data)"

setup:
	deploy/local/setup

build:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)
	cmake --build $(BUILD)

build-test:
	cmake -S . -B $(BUILD_TEST) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMC_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD_TEST)

# The fuzz harnesses need clang (libFuzzer): a tree of their own, the gcc builds untouched.
build-fuzz:
	CC=$(FUZZ_CC) cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMC_FUZZ=ON \
		$(CMAKE_FLAGS)
	cmake --build $(BUILD_FUZZ) --target fuzz_all

# MC_DEV_TOKENS=1: the edge serves demo tokens for examples/todos. Only make run sets it.
run: setup build
	MC_DEV_TOKENS=1 MC_BUILD_DIR=$(abspath $(BUILD)) deploy/local/run

up: setup build
	MC_BUILD_DIR=$(abspath $(BUILD)) deploy/local/up

down:
	deploy/local/down

status:
	@deploy/local/status

unit: build-test
	ctest --test-dir $(BUILD_TEST) --output-on-failure

system: setup build-test
	MC_BUILD_DIR=$(abspath $(BUILD_TEST)) .venv/bin/pytest $(PYTEST_FLAGS) tests/system

# Jaeger v1.76.0 is built once into /var/cache/modelcast-test (MC_TEST_CACHE) by
# tests/trace/build-jaeger, under nice; later runs take it from there.
test-trace: setup build-test
	JAEGER_BIN=$$(tests/trace/build-jaeger) && \
	MC_BUILD_DIR=$(abspath $(BUILD_TEST)) JAEGER_BIN=$$JAEGER_BIN \
		.venv/bin/pytest $(PYTEST_FLAGS) -s tests/trace

js-unit: setup
	cd clients/js && node --test test/*.test.js

client-test: setup build-test
	MC_BUILD_DIR=$(abspath $(BUILD_TEST)) node tests/js/run.js client

browser: setup build-test
	MC_BUILD_DIR=$(abspath $(BUILD_TEST)) node tests/js/run.js browser

js: js-unit build-test
	MC_BUILD_DIR=$(abspath $(BUILD_TEST)) node tests/js/run.js client browser

codegen:
	node clients/js/bin/modelcast-codegen.js config/models.json --out examples/models

screenshots: setup build
	MC_BUILD_DIR=$(abspath $(BUILD)) node tests/js/screenshots.js docs/img

fuzz: setup build-fuzz
	tests/fuzz/run --build $(BUILD_FUZZ) --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS)

# The pass `make test` runs: every target for 30 s, two at a time.
fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=30 FUZZ_JOBS=2

test: setup
	$(MAKE) unit
	$(MAKE) system
	$(MAKE) js

# Deployment test (tests/deploy/run): engine, images, compose and Kubernetes scenarios.
test-deploy:
	tests/deploy/run $(DEPLOY_FLAGS)

clean:
	rm -rf $(BUILD) $(BUILD_TEST) $(BUILD_FUZZ)

clean-all: clean
	-deploy/local/down
	rm -rf var
