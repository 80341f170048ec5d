# seawall: build, demo, tests and benchmarks. `make help` lists the targets.
# Everything that touches a firewall runs inside network namespaces the
# targets create; the machine's own firewall is never changed.

GO      ?= go
BIN     := bin/seawall
# systemd-journal-remote gives the journald log source's test real journal
# files (the test skips, saying so, without it).
APT_PKGS := nftables iproute2 systemd-journal-remote
# Test and benchmark timeouts (2-core machines, shared CI).
TEST_TIMEOUT ?= 20m

.PHONY: help deps build demo test check-format vet unit e2e fuzz bench clean

help:
	@echo "make demo   - install what is needed, build, and show seawall in a namespace lab"
	@echo "make test   - install what is needed and run every test (root runs the kernel tests)"
	@echo "make bench  - compare seawall with nft -f and iptables-nft-restore + ipset"
	@echo "make fuzz   - fuzz every parser of untrusted input, 500,000 inputs each"

# deps installs the Debian/Ubuntu packages seawall and its tests need.
# Go itself must be on PATH (Go >= 1.21 fetches the toolchain go.mod pins).
deps:
	@command -v $(GO) >/dev/null || { echo "Go is not installed: see https://go.dev/doc/install (Go >= 1.21)"; exit 1; }
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "missing packages:$$missing (run as root or: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

build: deps
	$(GO) build -o $(BIN) ./cmd/seawall

demo: build
	@[ "$$(id -u)" = 0 ] || { echo "the demo creates network namespaces: run it as root (sudo make demo)"; exit 1; }
	$(GO) run ./demo -seawall $(BIN)

check-format:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# test runs everything: unit tests, kernel differential tests, the end-to-end
# tests in namespaces (skipped with a reason when not root) and a short fuzz.
test: deps check-format vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

# Every fuzz target, as package:Target: the parsers of untrusted input
# (policy files, labels, log lines, fail2ban filters, dates).
FUZZ_TARGETS := \
	./internal/policy/:FuzzParse \
	./internal/policy/:FuzzParseLabels \
	./internal/logsrc/:FuzzLineReader \
	./internal/filter/:FuzzMatch \
	./internal/filter/:FuzzConfig \
	./internal/filter/:FuzzVM \
	./internal/filter/datedetect/:FuzzMatch \
	./internal/filter/datedetect/:FuzzNew \
	./internal/filter/datedetect/:FuzzNativeMatchesMachine
# Budgets are counts of inputs, not durations: with a duration, Go 1.26's
# fuzz coordinator can fail a target with a bare "context deadline exceeded"
# when the deadline races its workers (go.dev/issue/75804, fixed in Go 1.27),
# which failed CI once with no crasher written. A count has no deadline.
FUZZTIME ?= 500000x
FUZZTIME_SHORT ?= 20000x

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

bench: build
	bash bench/run.sh

clean:
	rm -rf bin
