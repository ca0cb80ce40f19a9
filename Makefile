# golvs: make targets a newcomer can guess. Logic lives in scripts/ and Go.
PREFIX ?= /usr/local
GO ?= go
export GOTOOLCHAIN ?= local

.PHONY: all build deps test demo bench generate check-generate install clean differential differential-golden

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

# lvsadm against the real ipvsadm 1.31 on Debian's 6.1 kernel in qemu:
# differential-golden boots the VM and rewrites the goldens from ipvsadm's
# output; differential does that and then compares lvsadm with them (the
# comparison alone is part of make test).
differential-golden:
	scripts/differential.sh golden

differential: differential-golden
	scripts/differential.sh test

demo: deps build
	scripts/demo.sh

bench: deps
	scripts/bench.sh

generate:
	$(GO) generate ./internal/datapath/...

# The committed bpf2go output must be what the committed C compiles to.
check-generate: deps
	scripts/check-generate.sh

# PREFIX-aware and DESTDIR-aware; the sample configuration never replaces
# an existing /etc/golvs/lvsd.yaml.
SYSCONFDIR ?= /etc
UNITDIR ?= $(SYSCONFDIR)/systemd/system
install: build
	install -D -m 0755 bin/lvsd $(DESTDIR)$(PREFIX)/sbin/lvsd
	install -D -m 0755 bin/lvsadm $(DESTDIR)$(PREFIX)/sbin/lvsadm
	if [ -x bin/lvsrs ]; then install -D -m 0755 bin/lvsrs $(DESTDIR)$(PREFIX)/sbin/lvsrs; fi
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/|$(PREFIX)/|g' packaging/lvsd.service > $(DESTDIR)$(UNITDIR)/lvsd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/lvsd.service
	install -D -m 0644 examples/lvsd.yaml $(DESTDIR)$(PREFIX)/share/doc/golvs/lvsd.yaml
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/golvs/README.md
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/golvs
	# A configuration that serves nothing until edited (an existing one is
	# kept); the commented example is in the doc directory.
	[ -e $(DESTDIR)$(SYSCONFDIR)/golvs/lvsd.yaml ] || printf '# lvsd configuration; see $(PREFIX)/share/doc/golvs/lvsd.yaml for every option.\nservices: []\n' > $(DESTDIR)$(SYSCONFDIR)/golvs/lvsd.yaml

clean:
	rm -rf bin
