# SecureChat — `make run` starts the server, `make test` runs every test.
CARGO ?= cargo
HOST ?= 127.0.0.1

.PHONY: run run-tls test unit fmt lint release bench clean

run:
	$(CARGO) run --release -- --host $(HOST) --port 8000

run-tls:
	$(CARGO) run --release -- --host $(HOST) --port 8443 --tls

test:
	$(CARGO) test --all-targets

fmt:
	$(CARGO) fmt

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

release:
	$(CARGO) build --release
	@ls -l target/release/securechat

clean:
	$(CARGO) clean
