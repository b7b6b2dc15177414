# Salon: the two commands that matter are `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.salon-installed
APT     := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: run cluster test check lint typecheck bench bench-chat bench-ingest fuzz deps system-deps haproxy-deps janus-deps test-system-deps screenshots clean

run: deps system-deps
	$(BIN)/python -m server.devtools.dev

# A local Redis Cluster (6 redis-server), NODES Salon nodes and HAProxy round-robin on
# CLUSTER_PORT (server/devtools/cluster.py, docs/cluster.md); Ctrl-C stops all.
NODES        ?= 2
CLUSTER_PORT ?= 8080
cluster: deps system-deps haproxy-deps
	$(BIN)/python -m server.devtools.cluster --nodes $(NODES) --port $(CLUSTER_PORT)

test: deps test-system-deps
	bash scripts/netns-run $(BIN)/python -m pytest $(PYTEST_ARGS)

check: lint typecheck test

lint: deps
	$(BIN)/ruff check server loadtest benchmarks rtcseams tests
	$(BIN)/ruff format --check server loadtest benchmarks rtcseams tests

typecheck: deps
	$(BIN)/mypy

bench: deps system-deps janus-deps
	bash scripts/netns-run $(BIN)/python -m benchmarks.fanout

bench-chat: deps system-deps
	$(BIN)/python -m loadtest.chat_bench

bench-ingest: deps system-deps
	$(BIN)/python -m benchmarks.ingest_bench

# The protocol and REST fuzzers against a real server and Redis, FUZZ_SECONDS (default 300)
# each, at once; FUZZ_ARGS="--only rest" or "--json fuzz.json" pass through.
FUZZ_SECONDS ?= 300
fuzz: deps system-deps
	bash scripts/netns-run $(BIN)/python -m tests.fuzz.run --seconds $(FUZZ_SECONDS) $(FUZZ_ARGS)

deps: $(STAMP)

# setup.py builds rtcseams/_fastsend (the packet path's C part): a C compiler is needed.
$(STAMP): pyproject.toml setup.py rtcseams/fastsend_build.py
	@command -v cc >/dev/null || { $(APT) update -q && DEBIAN_FRONTEND=noninteractive $(APT) install -y -q gcc libc6-dev; }
	[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

system-deps:
	@command -v redis-server >/dev/null || { $(APT) update -q && DEBIAN_FRONTEND=noninteractive $(APT) install -y -q redis-server; }

haproxy-deps:
	@command -v haproxy >/dev/null || { $(APT) update -q && DEBIAN_FRONTEND=noninteractive $(APT) install -y -q haproxy; }

# Janus (its VideoRoom plugin): the fan-out benchmark's C reference (benchmarks/janus_server.py).
janus-deps:
	@command -v janus >/dev/null || { $(APT) update -q && DEBIAN_FRONTEND=noninteractive $(APT) install -y -q janus; }

test-system-deps: system-deps haproxy-deps janus-deps
	@command -v chromium >/dev/null || { $(APT) update -q && DEBIAN_FRONTEND=noninteractive $(APT) install -y -q chromium; }
	@command -v ip >/dev/null || { $(APT) update -q && DEBIAN_FRONTEND=noninteractive $(APT) install -y -q iproute2; }
	@# Without them headless Chromium draws emoji and Chinese as empty boxes.
	@dpkg -s fonts-noto-color-emoji fonts-noto-cjk >/dev/null 2>&1 || { $(APT) update -q && DEBIAN_FRONTEND=noninteractive $(APT) install -y -q fonts-noto-color-emoji fonts-noto-cjk; }

# The README's pictures, from a live demo room (scripts/screenshots.py): docs/screenshots/.
screenshots: deps test-system-deps
	PYTHONPATH=$(CURDIR) bash scripts/netns-run $(BIN)/python scripts/screenshots.py
	PYTHONPATH=$(CURDIR) bash scripts/netns-run $(BIN)/python scripts/screenshots.py --lang zh-CN

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache reports
