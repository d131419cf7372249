# izypop3 — build, run, test.
#
#   make run    build, then serve the fake store on 127.0.0.1:1110
#   make test   everything CI checks (vet, also for macOS and FreeBSD, gofmt, generated
#               code, go test -race, interop)
#   make install [PREFIX=/usr/local] [DESTDIR=]   izypop3 (fake and localfs bundled), the
#               systemd units, the sysusers file, LICENSE/NOTICE

GO        ?= go
BIN       := bin
PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    ?= $(PREFIX)/bin
UNITDIR   ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR    ?= $(PREFIX)/share/doc/izypop3
PLUGINS   := fake localfs cloud
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin

# izypop3 version shows these (else it falls back to the Go build info).
COMMIT    := $(shell git rev-parse HEAD 2>/dev/null)
BUILDDATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -X main.commit=$(COMMIT) -X main.buildDate=$(BUILDDATE)

# Pinned code generators (make proto).
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

.PHONY: all build run install uninstall install-check notice setup units-check test test-short vet vet-ports fmt-check proto proto-tools proto-check bench clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/izypop3 ./cmd/izypop3
	@for p in $(PLUGINS); do \
		echo "$(GO) build -o $(BIN)/izypop3-store-$$p ./plugins/$$p"; \
		$(GO) build -o $(BIN)/izypop3-store-$$p ./plugins/$$p || exit 1; \
	done

run: build
	@echo "izypop3: serving the fake store on 127.0.0.1:1110 (any user name, password 12345; Ctrl-C stops)"
	@echo "  list:      curl pop3://alice:12345@127.0.0.1:1110/"
	@echo "  message 1: curl pop3://alice:12345@127.0.0.1:1110/1"
	@echo "  mpop:      mkdir -p /tmp/izypop3-md/{new,cur,tmp} && mpop --host=127.0.0.1 --port=1110 --tls=off --auth=user --user=alice --passwordeval='echo 12345' --keep=on --delivery=maildir,/tmp/izypop3-md"
	@echo "  poplib:    python3 -c \"import poplib; p=poplib.POP3('127.0.0.1',1110); p.user('alice'); p.pass_('12345'); print(p.stat()); p.quit()\""
	$(BIN)/izypop3 serverpop3 --listen 127.0.0.1 --port 1110 --password 12345 --modhandler fake --log-format text

# One binary is a working set: the first-party stores are bundled in it.
# The units are rewritten for BINDIR.
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN)/izypop3 $(DESTDIR)$(BINDIR)/izypop3
	@for u in contrib/systemd/*.service contrib/systemd/*.timer; do \
		echo "install $$u $(DESTDIR)$(UNITDIR)/"; \
		sed 's|/usr/local/bin/|$(BINDIR)/|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u); \
	done
	install -m 0644 contrib/systemd/izypop3.sysusers $(DESTDIR)$(SYSUSERSDIR)/izypop3.conf
	install -m 0644 LICENSE NOTICE README.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/izypop3 $(DESTDIR)$(SYSUSERSDIR)/izypop3.conf
	rm -f $(DESTDIR)$(UNITDIR)/izypop3.service $(DESTDIR)$(UNITDIR)/izypop3-fetch.service $(DESTDIR)$(UNITDIR)/izypop3-fetch@.service $(DESTDIR)$(UNITDIR)/izypop3-fetch@.timer
	rm -rf $(DESTDIR)$(DOCDIR)

# make install into a temporary DESTDIR serves curl from the installed
# binary alone; go install gives a binary with the stores bundled.
install-check:
	@bash .ci/install-check.sh

vet:
	$(GO) vet ./...

# izypop3 builds on macOS and FreeBSD too, but CI runs on Linux only: vet
# (which compiles every package and test) cross-compiled for them keeps the
# Linux-only code behind its build tags.
vet-ports:
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	GOOS=freebsd GOARCH=amd64 $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

proto-tools:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

# Regenerate sdk/internal/storev1 from the public proto.
proto: proto-tools
	@command -v protoc >/dev/null || { echo "make proto: protoc not found: install the Debian package protobuf-compiler (sudo bash .ci/install-deps.sh installs it with the test peers)"; exit 1; }
	PATH="$(GOBIN_DIR):$$PATH" protoc -I sdk/proto \
		--go_out=. --go_opt=module=github.com/izyware/izypop3 \
		--go-grpc_out=. --go-grpc_opt=module=github.com/izyware/izypop3 \
		sdk/proto/izypop3/store/v1/store.proto

# Fail if the committed generated code is not what `make proto` produces.
proto-check: proto
	@git diff --exit-code -- sdk/internal/storev1 || \
		{ echo "sdk/internal/storev1 is stale: run 'make proto' and commit"; exit 1; }

# systemd-analyze verify on contrib/systemd (any warning fails).
units-check: build
	@bash .ci/verify-units.sh $(BIN)

# The programs the tests need: installed here when root, else the command
# to run is printed.
setup:
	@bash .ci/setup.sh

# The race run skips measurements that -race distorts (idle-session memory);
# they run once more without -race right after.
test: setup fmt-check vet vet-ports proto-check build units-check install-check
	bash .ci/gotest.sh -race -count=1 -timeout 30m ./...
	bash .ci/gotest.sh -count=1 -run 'TestIdleSessionMemory' ./core/pop3/pop3server/

test-short:
	$(GO) test -short -count=1 ./...

# Rewrite NOTICE (third-party licences) after a go.mod change; a test checks it.
notice:
	$(GO) run ./internal/notice > NOTICE

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)
