# SecureChat — `make run` starts the server, `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
HOST ?= 127.0.0.1

.PHONY: run run-tls test browser-test browser-deps pg-deps pebble-deps unit fmt lint release bench clean fuzz abuse audit

run:
	$(CARGO) run --release -- --host $(HOST) --port 8000

run-tls:
	$(CARGO) run --release -- --host $(HOST) --port 8443 --tls

# Every test on SQLite, then the integration tests again on PostgreSQL
# (tests/with-postgres: a throwaway cluster for the run, a database per
# test), then the browser tests (the one across two instances on PostgreSQL).
test: pg-deps pebble-deps
	$(CARGO) test --all-targets
	tests/with-postgres $(CARGO) test --test '*'
	$(MAKE) browser-test

# PostgreSQL from Debian's package when missing. Clusters are throwaway:
# tests/with-postgres makes one in a temporary directory on 127.0.0.1 for a
# run, tests/common/pg.rs one per test that needs its own; both are stopped
# and deleted when the tests end, pass or fail.
pg-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "Installing PostgreSQL from Debian's packages"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y postgresql; \
	fi

# Pebble, Let's Encrypt's ACME test server (and its DNS, pebble-challtestsrv),
# from Debian's package when missing; each ACME test starts its own on free
# loopback ports (tests/common/pebble.rs), stopped when the test ends.
pebble-deps:
	@if ! command -v pebble >/dev/null || ! command -v pebble-challtestsrv >/dev/null; then \
		echo "Installing pebble from Debian's packages"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y pebble; \
	fi

# Browser tests: the real server binary driven through Debian's headless
# Chromium by playwright-core (tests/browser, Node's built-in test runner).
BROWSER_DIR := tests/browser

browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Chromium from Debian's packages"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y chromium; \
	fi
	@if [ ! -d $(BROWSER_DIR)/node_modules ]; then \
		cd $(BROWSER_DIR) && npm ci --no-audit --no-fund; \
	fi

browser-test: browser-deps pg-deps
	$(CARGO) build
	tests/with-postgres sh -c 'cd $(BROWSER_DIR) && node --test --test-concurrency=1 *.test.mjs'

fmt:
	$(CARGO) fmt

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

release:
	$(CARGO) build --release
	@ls -l target/release/securechat

# Load benchmark (src/bin/loadgen/): starts its own server on 127.0.0.1,
# prints a table, appends JSON lines to target/bench-results.jsonl.
# e.g. make bench BENCH_ARGS="--runs 1 --scenario burst"
# idle and burst also run over TLS (HTTPS/WSS, verified); --tls runs only the
# TLS variants, --plain only plain text (default: both, for the TLS/plain ratio).
# search stores 1,000,000 messages straight into the server's database, then
# measures search p50/p99 by kind of query and insert msgs/s with the search
# index on and off (--search-messages, --search-queries, --insert-messages;
# --keep-data leaves the database behind to look into).
# files (server with --max-upload 200MiB --max-storage-per-user 4GiB): one
# 100 MiB upload and download, MiB/s beside raw loopback TCP and the server's
# RSS growth (VmRSS every 10 ms); 100 concurrent 1 MiB uploads, none lost, all
# read back identical; a room's p50/p99 idle vs while 4 threads upload 5 MiB
# files (--file-mib, --file-uploads). Latency wants a quiet box: --wait-idle 60.
# e.g. make bench BENCH_ARGS="--scenario files --runs 3"
# instances and stored need PostgreSQL: loadgen runs under tests/with-postgres
# (a throwaway cluster on 127.0.0.1, a fresh database per run), with
# SECURECHAT_PG_DURABLE=1 so commits are fsynced as for real. instances: two
# server instances on one database, a 1,000-socket room half on each, the
# sender on one; paced and burst: p50/p99 on the sender's instance vs across
# (target p99 <= 2x), deliveries/s vs one SQLite instance in the same run.
# stored: 40 senders in 10 rooms, one ack at a time: stored msgs/s and ack
# p50/p99, PostgreSQL vs SQLite (--stored-senders, --stored-rooms,
# --stored-messages, --stored-window).
# e.g. make bench BENCH_ARGS="--scenario instances --runs 3"
bench: pg-deps browser-deps
	$(CARGO) build --release
	SECURECHAT_PG_DURABLE=1 tests/with-postgres target/release/loadgen $(BENCH_ARGS)
	cd $(BROWSER_DIR) && SECURECHAT_BIN=$(CURDIR)/target/release/securechat node e2e-bench.mjs

clean:
	$(CARGO) clean

# Fuzzing (cargo-fuzz, libFuzzer) on stable with `-s none`; each target runs
# for FUZZ_SECONDS. Crashes land in fuzz/artifacts/ and fail the run.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := request_head path_routing cookies_forms ws_frames tls_config chat_input file_input
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	@for t in $(FUZZ_TARGETS); do \
		echo "== $$t"; \
		$(CARGO) fuzz run -s none $$t -- -max_total_time=$(FUZZ_SECONDS) 2>&1 | grep -E '^(Done|INFO: -max_total|==[0-9]+==|SUMMARY)|panicked' ; \
		test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# Slow and abusive clients against a real server, with Debian's slowhttptest.
abuse:
	$(CARGO) build
	tests/abuse/slowhttptest.sh target/debug/securechat

# Supply chain: RustSec advisories (offline snapshot) and cargo-deny policy.
ADVISORY_DB ?= ../shared/advisory-db
audit:
	@command -v cargo-audit >/dev/null || $(CARGO) install --locked cargo-audit
	@command -v cargo-deny >/dev/null || $(CARGO) install --locked cargo-deny
	@if [ -d $(ADVISORY_DB) ]; then \
		$(CARGO) audit --no-fetch --db $(ADVISORY_DB); \
	else \
		echo "SKIPPED cargo audit: no advisory database at $(ADVISORY_DB) (set ADVISORY_DB=...)"; \
	fi
	@# cargo-deny reads every platform's dependencies; a build fetched only this one's.
	$(CARGO) fetch --locked
	$(CARGO) deny --offline check bans licenses sources
