# Sotong: the one entry point. `make up` runs the platform locally with a demo; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PACKAGES := services/common services/intake services/moderation services/alerting services/publishing services/partner services/gateway services/community services/console deploy/local deploy/local/standins
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help up down status test unit browser lint contracts-compat proto proto-check bench soak k8s-topics k8s-tools k8s-check images eval-moderation train-moderation lock clean gateway-web console-web

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): $(PYPROJECTS) requirements/constraints.txt requirements/dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (set PYTHON=...)"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17+ is needed to run Apache Kafka"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch Apache Kafka's jars"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -r requirements/dev.txt $(addprefix -e ,$(PACKAGES))
	@touch $@

up: $(STAMP) console-web ## start Kafka, PostgreSQL and every service in the background, then run the demo
	$(BIN)/sotong-stack up

down: ## stop everything `make up` started
	@if [ -x $(BIN)/sotong-stack ]; then $(BIN)/sotong-stack down; else echo "nothing to stop"; fi

status: $(STAMP) ## print the running stack's ports and processes
	$(BIN)/sotong-stack status

test: $(STAMP) lint proto-check k8s-tools browser gateway-web console-web ## lint, contracts, then unit, service, e2e and reliability tests on the real stack
	$(PY) -m pytest -q --timeout=600 $(PYTEST_ARGS) services deploy/local/standins/tests tests

# Three tests drive a real headless Chromium, Debian's: the partner service's mobile homepage (Selenium, through
# chromium-driver of the same version, with a Korean font so screenshots are legible), the gateway's browser
# test page and the operators' console (Playwright for Python, executable_path=/usr/bin/chromium). Installed with apt-get (as root, like CI)
# when missing.
browser: ## install Debian's chromium, chromium-driver and a Korean font unless they are there
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! fc-list 2>/dev/null | grep -qi nanum; then \
	  command -v apt-get >/dev/null || { echo "chromium and chromium-driver are needed (Debian packages)"; exit 1; }; \
	  [ "$$(id -u)" = 0 ] || { echo "run as root, or: sudo apt-get install chromium chromium-driver fonts-nanum"; exit 1; }; \
	  echo "installing chromium, chromium-driver and fonts-nanum (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-nanum >/dev/null; \
	fi

unit: $(STAMP) ## unit tests only: no Kafka, no PostgreSQL (seconds)
	$(PY) -m pytest -q $(PYTEST_ARGS) services deploy/local/standins/tests

lint: $(STAMP) contracts-compat ## ruff, mypy --strict, import rules, buf lint and buf breaking
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p sotong_common -p sotong_localstack -p sotong_intake -p sotong_moderation -p sotong_alerting -p sotong_publishing -p sotong_partner -p sotong_gateway -p sotong_community -p sotong_console -p sotong_standins
	$(BIN)/lint-imports --no-logo
	cd protos && ../$(BIN)/buf lint

# The contracts change compatibly: on a branch, against main; on main itself, against the previous commit (what
# CI checks at each landing). BUF_AGAINST overrides it, e.g. BUF_AGAINST='.git#tag=v1.0,subdir=protos'.
BRANCH := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
comma := ,
hash := \#
BUF_AGAINST ?= $(if $(filter main,$(BRANCH)),.git$(hash)ref=HEAD~1$(comma)subdir=protos,.git$(hash)branch=main$(comma)subdir=protos)
contracts-compat: $(STAMP) ## buf breaking: the protos against main (or the previous commit on main)
	@if [ "$(BRANCH)" = main ] && ! git rev-parse -q --verify HEAD~1 >/dev/null; then \
	  echo "buf breaking: no previous commit to compare with (shallow clone)"; \
	else cd protos && ../$(BIN)/buf breaking --against '../$(BUF_AGAINST)' && echo "buf breaking: compatible with $(BUF_AGAINST)"; fi

proto: $(STAMP) ## regenerate Python code and typing stubs from protos/
	PYTHON=$(PY) tools/proto.sh

proto-check: $(STAMP) ## fail if the generated code drifted from protos/
	PYTHON=$(PY) tools/proto.sh --check

bench: $(STAMP) ## run the benchmarks; figures print and go to bench-results/*.json
	$(PY) tests/bench/run.py $(BENCH)

soak: $(STAMP) ## 10 minutes of steady mixed load on a stack of its own: RSS, consumer lag, error lines (not in CI)
	$(PY) -m sotong_localstack.soak $(SOAK_ARGS)

k8s-topics: $(STAMP) ## generate Strimzi KafkaTopic manifests from the topic catalog
	$(PY) -c "from pathlib import Path; from sotong_localstack.topics import write_strimzi; print(len(write_strimzi(Path('k8s/base/kafka-topics'))), 'topics')"

# The real kustomize renders the manifests in tests/k8s: built from source with `go install` (Go 1.24 or newer;
# about 1.5 minutes on a fresh machine, the modules come from the Go module proxy) into the venv, once; a binary
# of this version already there is kept. Later releases (v5.8.3) need a newer Go than 1.26.
KUSTOMIZE_VERSION := v5.8.1
KUSTOMIZE := $(BIN)/kustomize
k8s-tools: ## install kustomize (go install) into .venv/bin unless that version is there
	@if [ "$$($(KUSTOMIZE) version 2>/dev/null)" != "$(KUSTOMIZE_VERSION)" ]; then \
	  command -v go >/dev/null || { echo "Go 1.24+ is needed to build kustomize $(KUSTOMIZE_VERSION) (https://go.dev/dl/)"; exit 1; }; \
	  echo "building kustomize $(KUSTOMIZE_VERSION) into $(KUSTOMIZE) (go install, about 1.5 minutes)"; \
	  mkdir -p $(BIN) && GOBIN=$(abspath $(BIN)) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); \
	fi

k8s-check: $(STAMP) k8s-tools ## render (kustomize) and validate the Kubernetes manifests offline
	$(PY) -m pytest -q tests/k8s

# The gateway's browser test page: a client generated from the protos (protoc-gen-es) with Connect's web
# transports, type-checked and bundled (npm packages pinned by services/gateway/web/package-lock.json, installed
# with npm ci; node_modules and the build are not committed).
GATEWAY_WEB := services/gateway/web
$(GATEWAY_WEB)/node_modules/.installed: $(GATEWAY_WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20+ and npm are needed to build the gateway's browser test page"; exit 1; }
	cd $(GATEWAY_WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

gateway-web: $(STAMP) $(GATEWAY_WEB)/node_modules/.installed ## build the gateway's browser page (generated Connect/gRPC-Web client)
	$(GATEWAY_WEB)/build.sh $(abspath $(PY))

# The operators' console: server-rendered pages with htmx and its SSE extension, no JavaScript build. The npm
# packages (pinned by services/console/web/package-lock.json, installed with npm ci) are copied into the package's
# static/vendor (not committed); axe-core stays in node_modules for the browser tests' accessibility checks.
CONSOLE_WEB := services/console/web
CONSOLE_VENDOR := services/console/src/sotong_console/static/vendor
$(CONSOLE_WEB)/node_modules/.installed: $(CONSOLE_WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20+ and npm are needed for the console's htmx and axe-core"; exit 1; }
	cd $(CONSOLE_WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

console-web: $(CONSOLE_WEB)/node_modules/.installed ## copy htmx and its SSE extension into the console's static files
	@mkdir -p $(CONSOLE_VENDOR)
	@cp $(CONSOLE_WEB)/node_modules/htmx.org/dist/htmx.min.js $(CONSOLE_VENDOR)/htmx.min.js
	@cp $(CONSOLE_WEB)/node_modules/htmx-ext-sse/dist/sse.js $(CONSOLE_VENDOR)/htmx-ext-sse.js

images: ## build the service images (needs a Docker engine)
	docker build -f services/intake/Dockerfile -t sotong/intake:dev .
	docker build -f services/moderation/Dockerfile -t sotong/moderation:dev .
	docker build -f services/alerting/Dockerfile -t sotong/alerting:dev .
	docker build -f services/publishing/Dockerfile -t sotong/publishing:dev .
	docker build -f services/partner/Dockerfile -t sotong/partner:dev .
	docker build -f services/gateway/Dockerfile -t sotong/gateway:dev .
	docker build -f services/community/Dockerfile -t sotong/community:dev .
	docker build -f services/console/Dockerfile -t sotong/console:dev .

eval-moderation: $(STAMP) ## precision/recall/F1 per policy clause on held-out data (needs ../shared/datasets)
	$(PY) -m sotong_moderation.evaluation --datasets ../shared/datasets --json-out bench-results/moderation-eval.json

train-moderation: $(STAMP) ## retrain the moderation classifier from ../shared/datasets
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e 'services/moderation[training]'
	$(PY) -m sotong_moderation.training --datasets ../shared/datasets

lock: ## re-pin requirements/constraints.txt from the current venv
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements/constraints.txt

clean: down ## remove the venv, run directories and caches
	rm -rf $(VENV) .run .cache bench-results .pytest_cache .mypy_cache .ruff_cache
