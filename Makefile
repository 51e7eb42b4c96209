# ferry: top-level entry. `make demo` and `make check` install what is missing
# (Debian 12, as root), build everything and run; see README.md.
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
BUILD_DIR ?= build
JOBS ?= 2
FUZZ_SECONDS ?= 180

.PHONY: all deps core extension install install-extension check demo bench fuzz format clean

all: core extension

deps:
	@scripts/install-deps.sh

core: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

extension: core
	$(MAKE) -C pg_extension PG_CONFIG=$(PG_CONFIG) FERRY_BUILD_DIR=$(abspath $(BUILD_DIR))

# Installs the extension into the local PostgreSQL 15 (needs root).
install-extension: extension
	@if [ "$$(id -u)" -ne 0 ] && [ ! -w "$$($(PG_CONFIG) --pkglibdir)" ]; then \
	  echo "installing the extension needs root: sudo make install-extension" >&2; exit 1; fi
	$(MAKE) -C pg_extension PG_CONFIG=$(PG_CONFIG) FERRY_BUILD_DIR=$(abspath $(BUILD_DIR)) install >/dev/null

install: install-extension
	install -m 755 $(BUILD_DIR)/ferry /usr/local/bin/ferry
	install -m 644 $(BUILD_DIR)/ferry.so /usr/local/lib/ferry.so

check: install-extension
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

demo: install-extension
	bash scripts/demo.sh

bench: install-extension
	bash bench/run.sh

# Runs each libFuzzer harness of tests/fuzz/ for FUZZ_SECONDS (clang, in
# build-fuzz/) and merges what it finds into tests/fuzz/corpus/; see
# docs/fuzzing.md. `make check` only replays the committed corpus.
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) scripts/fuzz.sh

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD_DIR) build-fuzz
	$(MAKE) -C pg_extension PG_CONFIG=$(PG_CONFIG) clean
