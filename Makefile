# Thin front for CMake and the local stack scripts (deploy/local). `make help` lists targets.
BUILD ?= build
BUILD_TEST ?= build-test
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
PYTEST_FLAGS ?= -q

.PHONY: help setup build build-test run up down status test unit system test-deploy clean clean-all

help:
	@echo "make setup      install packages, Kafka jars and the Python test venv (idempotent)"
	@echo "make build      configure and build into $(BUILD)/ (Ninja, $(BUILD_TYPE))"
	@echo "make run        setup + build, start the whole stack in the foreground (Ctrl-C stops)"
	@echo "make up|down|status   start / stop / show the local stack in the background"
	@echo "make test       sanitizer build in $(BUILD_TEST)/, unit tests (ctest), system tests (pytest)"
	@echo "make unit       unit tests only (ctest on $(BUILD_TEST)/)"
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

run: setup build
	MC_BUILD_DIR=$(abspath $(BUILD)) deploy/local/run

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

test: setup
	$(MAKE) unit
	$(MAKE) system

# Deployment test (tests/deploy/run): engine, images, compose and Kubernetes scenarios.
test-deploy:
	tests/deploy/run $(DEPLOY_FLAGS)

clean:
	rm -rf $(BUILD) $(BUILD_TEST)

clean-all: clean
	-deploy/local/down
	rm -rf var
