# gatewayd's two commands: `go run ./cmd/gatewayd` runs it, `make test` tests it.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The whole suite, integration tests included, in well under 20 minutes on 2
# cores; one package at a time, so that timing bounds such as "the program is
# gone within a second of its client" measure gatewayd, not a busy machine.
TESTFLAGS   ?= -race -count=1 -p 1 -timeout 20m
# The same tests once more as CGO_ENABLED=0 builds them (a static binary,
# the Go DNS resolver), without the race detector, which needs cgo.
NOCGOFLAGS  ?= -count=1 -p 1 -timeout 20m

.PHONY: test peers check build bench

## test: install missing test peers, then vet, lint and run every test with the race detector, and again without cgo.
test: peers check
	$(GO) test $(TESTFLAGS) ./...
	CGO_ENABLED=0 $(GO) test $(NOCGOFLAGS) ./...

## peers: install the web servers and clients the integration tests drive.
peers:
	@integration/install-peers.sh

## check: formatting, go vet, staticcheck and the Windows build.
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	GOOS=windows $(GO) build ./...
	GOOS=windows $(GO) vet ./...

## build: the binary, in ./gatewayd.
build:
	$(GO) build -o gatewayd ./cmd/gatewayd

## soak: the soak test at full size (10,000 requests and faults through HTTP, FastCGI and SCGI; the short form runs in test).
.PHONY: soak
soak: peers
	GATEWAYD_INTEGRATION=1 GATEWAYD_SOAK=full $(GO) test -race -count=1 -run TestSoak -timeout 30m ./integration

## bench: the benchmarks, with figures (the nginx comparisons run each load once, for GATEWAYD_BENCH_SECONDS).
bench:
	@integration/install-peers.sh bench
	$(GO) test -run '^$$' -bench . -benchtime 3s ./handler/... ./protocol/...
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./integration
