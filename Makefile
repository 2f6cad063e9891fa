# PicaDaily: `make demo` starts the whole local stack; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASYNCAPI_SPECS := 6.11.1

.PHONY: install demo cluster test test-fast lint docs kubernetes upgrade bench ab pull-compare client-compare chaos cluster-chaos scenarios requests review-timings profile scale footprint proto clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("PicaDaily needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@# The official AsyncAPI schemas (npm), to validate our /asyncapi.json offline in the tests.
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix $(VENV)/npm --no-save --no-audit --no-fund --loglevel=error \
			@asyncapi/specs@$(ASYNCAPI_SPECS) \
		|| echo "npm could not fetch @asyncapi/specs: the AsyncAPI document's test will skip"; \
	else echo "npm not found: the AsyncAPI document's test will skip (apt-get install npm)"; fi
	@touch $(STAMP)

install: $(STAMP)

demo: install
	PICADAILY_LAB=$${PICADAILY_LAB:-true} PICADAILY_TRACING=$${PICADAILY_TRACING:-true} \
		$(BIN)/picadaily up

# The clustered stack (docs/scaling.md): NATS, SeaweedFS and PostgreSQL as clusters on loopback
# addresses of their own, two of each of our processes (needs Debian's etcd-server).
cluster: install
	PICADAILY_LAB=$${PICADAILY_LAB:-true} $(BIN)/picadaily up --cluster

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy picadaily frontend functions services workflow infra bench harness cli

# constraints.txt pins every package at the version the suite last passed with: a fresh machine
# installs exactly that. `make upgrade` resolves pyproject.toml's ranges again in a throwaway
# virtualenv, writes the new pins, and reinstalls; run `make test` before committing them.
upgrade:
	rm -rf .venv-upgrade && $(PYTHON) -m venv .venv-upgrade
	.venv-upgrade/bin/python -m pip install --quiet --disable-pip-version-check '.[dev]'
	{ echo "# Every package at the version the tests passed with (make upgrade writes this)."; \
	  .venv-upgrade/bin/python -m pip freeze --exclude picadaily; } > constraints.txt
	rm -rf .venv-upgrade build
	$(MAKE) install

docs: install
	$(BIN)/python -m picadaily.flow_drawing docs/architecture.md

# The Kubernetes base of our processes, from its table (infra/k8s.py).
kubernetes: install
	$(BIN)/python -m infra.k8s

bench: install
	$(BIN)/python -m bench.run

# What a change did to the CPU per picture: two git revisions measured in turns, on fresh stacks
# (make ab A=<rev> B=<rev> [PAIRS=4]; one bench run is one sample, and this machine drifts).
ab: install
	$(BIN)/python -m bench.ab $(A) $(or $(B),HEAD) $(or $(PAIRS),4)

# Our JetStream pull protocol (picadaily/pull.py) against FastStream's and nats-py's fetch loop.
pull-compare: install
	$(BIN)/python -m bench.pull_compare

# Our httpx transport on aiohttp against httpx-aiohttp's and httpx's own (why http_client.py stays).
client-compare: install
	$(BIN)/python -m bench.client_compare

chaos: install
	$(BIN)/python -m bench.chaos

# The cluster drill: each tier's servers killed -9 and cut off mid-burst (needs root: iptables).
cluster-chaos: install
	$(BIN)/python -m bench.cluster_chaos

scenarios: install
	$(BIN)/python -m bench.scenarios

# Requests per picture per mode (S3, HTTP, NATS, Temporal), counted from the pictures' traces.
requests: install
	$(BIN)/python -m bench.requests

# What the idle stack holds (RSS and PSS per process), its start time and idle CPU.
footprint: install
	$(BIN)/python -m bench.footprint

# Every Python process of the stack sampled by py-spy during a burst: its top frames, per mode.
profile: install
	$(BIN)/python -m bench.profile

# The cost curve: the same measurements with 10, 1,000 and 10,000 pictures in the library, and a
# burst of 500 per mode (about 15 minutes).
scale: install
	$(BIN)/python -m bench.scale

# Moderation: a decision's way to the final status, per mode.
review-timings: install
	$(BIN)/python -m bench.review

# The SeaweedFS filer API subset the storage-event source speaks (functions/seaweedfs/filer.proto).
proto: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'grpcio-tools==1.85.*'
	cd functions/seaweedfs && ../../$(BIN)/python -m grpc_tools.protoc -I. --python_out=. \
		--pyi_out=. filer.proto

clean:
	rm -rf $(VENV) .picadaily .pytest_cache .mypy_cache .ruff_cache *.egg-info
