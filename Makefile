# golvs: make targets a newcomer can guess. Logic lives in scripts/ and Go.
PREFIX ?= /usr/local
GO ?= go
export GOTOOLCHAIN ?= local

.PHONY: all build deps test demo bench generate check-generate install clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

deps:
	scripts/deps.sh

# Unit tests, data-plane fixtures (BPF_PROG_TEST_RUN) and end-to-end tests in
# network namespaces. Privileged tests fail rather than skip here.
test: deps check-generate
	$(GO) vet ./...
	GOLVS_TEST_PRIVILEGED=1 $(GO) test -count=1 -timeout 12m ./...

demo: deps build
	scripts/demo.sh

bench: deps
	scripts/bench.sh

generate:
	$(GO) generate ./internal/datapath/...

# The committed bpf2go output must be what the committed C compiles to.
check-generate: deps
	scripts/check-generate.sh

install: build
	install -D -m 0755 bin/lvsd $(DESTDIR)$(PREFIX)/sbin/lvsd
	install -D -m 0755 bin/lvsadm $(DESTDIR)$(PREFIX)/sbin/lvsadm

clean:
	rm -rf bin
