# jwtauth: `make help` lists the targets.

GO            ?= go
BIN           ?= bin/jwtauth
# Extra flags for go test, e.g. make test GOTESTFLAGS=-race
GOTESTFLAGS   ?=
MYSQL_DSN     ?= root:@tcp(127.0.0.1:3306)/test?parseTime=true
POSTGRES_DSN  ?= postgres://root@127.0.0.1:5432/test?sslmode=disable
REDIS_URL     ?= redis://127.0.0.1:6379/0
FUZZTIME      ?= 30s
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# nomsgpack leaves out Gin's MessagePack binding, which jwtauth does not use.
TAGS          ?= nomsgpack
# -s -w leave out the symbol table and DWARF: a third smaller; panics still
# print file:line stack traces.
LDFLAGS       ?= -s -w -X main.versionString=$(VERSION)
# make vuln checks against the Go vulnerability database taken from the Go
# module proxy (golang.org/x/vulndb, indexed into VULNDB_DIR on first use),
# which works where vuln.go.dev cannot be reached; VULN_DB=https://vuln.go.dev
# asks the live database instead.
GOVULNCHECK   ?= golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_MOD    ?= golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018
VULNDB_DIR    ?= $(HOME)/.cache/jwtauth/vulndb-v0.0.0-20261105234957
VULN_DB       ?= file://$(VULNDB_DIR)

.DEFAULT_GOAL := help
.PHONY: help run build test test-mysql test-postgres test-all ci fuzz bench bench-flood bench-scale bench-go lint vuln fmt clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## build and start the server on :8080 with embedded SQLite (data/jwtauth.db)
	@CGO_ENABLED=0 $(GO) build -tags $(TAGS) -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jwtauth
	@# jwtauth says what went wrong in one line of its own, and make adds
	@# nothing: on a failure the recipe stops make with SIGINT, as Ctrl-C
	@# would (exit 130, no "Error 1" line); Ctrl-C itself is a clean stop.
	@trap true INT TERM; $(BIN) || kill -INT $$PPID

build: ## build the binary into bin/jwtauth (static, stripped)
	CGO_ENABLED=0 $(GO) build -tags $(TAGS) -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jwtauth

test: ## run every test (MariaDB/MySQL, PostgreSQL and Redis ones too when TEST_MYSQL_DSN / TEST_POSTGRES_DSN / TEST_REDIS_URL are set)
	@if [ -z "$$TEST_MYSQL_DSN" ]; then \
		echo "TEST_MYSQL_DSN is not set: the MariaDB/MySQL tests will be skipped (make test-mysql runs them)."; \
	else \
		echo "MariaDB/MySQL tests run against TEST_MYSQL_DSN."; \
	fi
	@if [ -z "$$TEST_POSTGRES_DSN" ]; then \
		echo "TEST_POSTGRES_DSN is not set: the PostgreSQL tests will be skipped (make test-postgres runs them)."; \
	else \
		echo "PostgreSQL tests run against TEST_POSTGRES_DSN."; \
	fi
	@if [ -z "$$TEST_REDIS_URL" ]; then \
		echo "TEST_REDIS_URL is not set: the Redis tests will be skipped (make test-all runs them)."; \
	fi
	$(GO) test $(GOTESTFLAGS) -count=1 ./...

test-mysql: ## run every test, MariaDB/MySQL included (MYSQL_DSN=... to point elsewhere)
	TEST_MYSQL_DSN='$(MYSQL_DSN)' $(MAKE) --no-print-directory test

test-postgres: ## run every test, PostgreSQL included (POSTGRES_DSN=... to point elsewhere)
	TEST_POSTGRES_DSN='$(POSTGRES_DSN)' $(MAKE) --no-print-directory test

test-all: ## run every test with MariaDB, PostgreSQL and Redis (MYSQL_DSN=..., POSTGRES_DSN=..., REDIS_URL=...)
	TEST_MYSQL_DSN='$(MYSQL_DSN)' TEST_POSTGRES_DSN='$(POSTGRES_DSN)' TEST_REDIS_URL='$(REDIS_URL)' $(MAKE) --no-print-directory test

ci: ## what CI runs: gofmt, vet, every test on every engine (MariaDB, PostgreSQL, Redis, Chromium), fuzzing
	./.ci/run

fuzz: ## fuzz each target for FUZZTIME (default 30s)
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyToken$$' -fuzztime $(FUZZTIME) ./internal/auth
	@for t in FuzzSignUp FuzzSignIn FuzzRefreshToken FuzzSignOut; do \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./internal/httpapi || exit 1; \
	done

bench: ## measure jwtauth against the floor and pure bcrypt, print the table (about 4 minutes)
	$(GO) run ./bench

FLOOD_RUNS    ?= 5
bench-flood: ## only the signin flood, FLOOD_RUNS times per configured engine (default 5): the median p99 of the token checks beside it
	$(GO) run ./bench -flood $(FLOOD_RUNS)

SCALE_USERS   ?= 1000000
bench-scale: ## load SCALE_USERS users (default 1,000,000) into each configured engine and time the admin API, signin and a board
	$(GO) run ./bench -scale $(SCALE_USERS)

bench-go: ## run the Go benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint: ## go vet, plus staticcheck when it is installed
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; else echo "staticcheck not installed: skipped"; fi

vuln: ## report known vulnerabilities in the code's call paths and in the Go it is built with (govulncheck)
	@if [ "$(VULN_DB)" = "file://$(VULNDB_DIR)" ] && [ ! -f "$(VULNDB_DIR)/index/db.json" ]; then \
		echo "indexing the Go vulnerability database into $(VULNDB_DIR) (once; a few minutes)"; \
		$(GO) mod download $(VULNDB_MOD) && \
		$(GO) run golang.org/x/vulndb/cmd/indexdb@$(lastword $(subst @, ,$(VULNDB_MOD))) \
			-vulns "$$($(GO) mod download -json $(VULNDB_MOD) | sed -n 's/.*"Dir": "\(.*\)",/\1/p')/data/osv" \
			-out "$(VULNDB_DIR)" || exit 1; \
	fi
	$(GO) run $(GOVULNCHECK) -db "$(VULN_DB)" -tags $(TAGS) ./...

fmt: ## format the code
	gofmt -w cmd internal bench

clean: ## remove the binary, the local SQLite database and the README's cookie jars (not an EdDSA key in data/)
	rm -rf bin data/jwtauth.db data/jwtauth.db-wal data/jwtauth.db-shm cookies.txt old-cookies.txt
	@rmdir data 2>/dev/null || true
