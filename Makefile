GO        ?= go
BIN       ?= bin/weir
DATA      ?= ./weir-data
ADDR      ?= 127.0.0.1:9092
PKGS      ?= ./...
FUZZTIME  ?= 20s

.PHONY: all build run test test-long bench bench-suite fuzz lint fmt clean compat

all: build

build:
	$(GO) build -o $(BIN) ./cmd/weir

# Start a single-node broker on $(ADDR) with data in $(DATA).
run: build
	$(BIN) serve --listen $(ADDR) --data $(DATA)

# Unit, property, crash, power-loss, corruption and integration tests.
# Kept under 10 minutes on a 2-core machine; long loops are in test-long.
test: lint
	$(GO) test -count=1 -timeout 10m $(PKGS)

# Long soak and crash loops.
test-long:
	WEIR_LONG=1 $(GO) test -count=1 -timeout 60m $(PKGS)

# Benchmarks with allocation counts. BENCH selects, e.g. BENCH=Append.
BENCH ?= .
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -timeout 60m $(PKGS)

# The standard benchmark suite through weir bench (see bench/README.md),
# e.g. make bench-suite BENCHARGS="--target weir,kfake --reps 3".
BENCHARGS ?=
bench-suite: build
	$(BIN) bench $(BENCHARGS)

# Run every fuzz target for $(FUZZTIME) each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

# Interoperability with librdkafka (kcat, installed from Debian if missing)
# and franz-go: produce/consume with every codec, offsets by time,
# idempotence, groups, restart. See scripts/compat.sh.
compat:
	GO=$(GO) bash scripts/compat.sh
