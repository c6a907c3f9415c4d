# PACE — a Kubernetes-native MLOps operator.  `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12 (seldon-core 1.19 needs it). pyenv's 3.12.x is found without activating it.
PY312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SERVING_VENV := .venv-serving
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
PYTEST_ARGS ?=

##@ Setup

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

$(UV):
	@test -n "$(PY312)" || { echo "Python 3.12 not found (looked in ~/.pyenv/versions/3.12.* and PATH)"; exit 1; }
	$(PY312) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PY312)
	touch $@

$(SERVING_VENV)/.installed: $(UV) operator/requirements-serving.lock
	$(UV) venv --allow-existing --python $(PY312) $(SERVING_VENV)
	$(UV) pip install --python $(SERVING_VENV)/bin/python --compile-bytecode --require-hashes -r operator/requirements-serving.lock
	touch $@

.PHONY: system-deps
system-deps: ## Debian packages the local stack uses (prometheus, prometheus-alertmanager); needs root, skipped when present
	@command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null || { \
	  echo "installing Debian's prometheus and prometheus-alertmanager packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; }

.PHONY: system-deps-images
system-deps-images: ## Debian packages `make images` uses (buildah, mmdebstrap); needs root, skipped when present
	@command -v buildah >/dev/null && command -v mmdebstrap >/dev/null || { \
	  echo "installing Debian's buildah and mmdebstrap packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah mmdebstrap >/dev/null; }

.PHONY: system-deps-node
system-deps-node: ## Debian packages a real local node uses (containerd, runc, CNI plugins, iptables, conntrack); needs root
	@command -v containerd >/dev/null && command -v runc >/dev/null && test -x /usr/lib/cni/bridge \
	  && command -v iptables >/dev/null && command -v conntrack >/dev/null || { \
	  echo "installing Debian's containerd, runc, containernetworking-plugins, iptables, conntrack"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    containerd runc containernetworking-plugins iptables conntrack >/dev/null; }

.PHONY: install
install: system-deps $(VENV)/.installed $(SERVING_VENV)/.installed ## Create .venv (operator, `pace` command) and .venv-serving (seldon-core) from the lock files; install Debian packages

.PHONY: estimator-table
estimator-table: $(VENV)/.installed ## Regenerate operator/pace/core/estimator_table.json from the locked scikit-learn (the operator checks specs with it, without importing scikit-learn)
	$(VENV)/bin/python -c "from pace.core import estimator_table as t; t.TABLE_PATH.write_text(t.render())"

.PHONY: lock
lock: $(UV) ## Re-resolve the lock files (uv.lock, operator/requirements-serving.lock)
	$(UV) lock --python $(PY312)
	$(UV) pip compile --python-version 3.12 --generate-hashes -q operator/requirements-serving.in -o operator/requirements-serving.lock

.PHONY: controlplane
controlplane: $(VENV)/.installed ## Build etcd, kube-apiserver, kube-controller-manager, kubectl, kubelet, kube-proxy, kube-scheduler, MinIO and helm into ~/.cache/pace (skipped when cached)
	$(PY) -m pace.localstack.binaries build

##@ Development

.PHONY: crds
crds: $(VENV)/.installed ## Regenerate crds/ (and the chart's copy) from the pydantic models
	$(VENV)/bin/pace crds --out crds
	$(VENV)/bin/pace crds --out charts/pace/crds

.PHONY: alerts
alerts: $(VENV)/.installed ## Regenerate the alerting rules (manifests/alerts/, charts/pace/files/) from pace.core.alert_rules
	$(VENV)/bin/pace alerts --out manifests/alerts
	$(VENV)/bin/pace alerts --out charts/pace/files

.PHONY: fmt
fmt: $(VENV)/.installed ## Format and auto-fix
	$(VENV)/bin/ruff format operator components tests
	$(VENV)/bin/ruff check --fix operator components tests

.PHONY: lint
lint: $(VENV)/.installed ## ruff, mypy, import-linter, CRDs in sync
	$(VENV)/bin/ruff check operator components tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pace crds --out crds --check
	$(VENV)/bin/pace crds --out charts/pace/crds --check
	$(VENV)/bin/pace alerts --out manifests/alerts --check
	$(VENV)/bin/pace alerts --out charts/pace/files --check
	$(VENV)/bin/python -c "from pace.core import estimator_table as t; assert t.TABLE_PATH.read_text() == t.render(), 'estimator_table.json is stale: make estimator-table'"

.PHONY: test
test: install controlplane ## Everything: unit, components, integration and e2e tests against real servers (the CI command)
	$(PYTEST) -m "not bench and not images and not node and not chaos" $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: $(VENV)/.installed ## Pure unit tests only (no servers)
	$(PYTEST) -m "not integration and not components and not e2e and not bench and not images and not node and not chaos" $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: install controlplane ## Tests against the real servers
	$(PYTEST) -m integration $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: install controlplane ## The operator end to end (KopfRunner + real servers)
	$(PYTEST) -m e2e $(PYTEST_ARGS)

.PHONY: bench
bench: install controlplane ## Benchmarks; figures printed and written to tests/bench/results/
	$(PYTEST) tests/bench -m bench -s $(PYTEST_ARGS)

.PHONY: chaos
chaos: install controlplane ## Chaos trials: SIGKILL the operator, pause MinIO/Prometheus at random (PACE_CHAOS_TRIALS=50, PACE_CHAOS_SEED=1); figures in tests/bench/results/chaos.json
	$(PYTEST) tests/chaos -m chaos -s $(PYTEST_ARGS)

.PHONY: images
images: install system-deps-images ## Build the operator, pipeline-step and model-server images (buildah, no daemon) into ~/.cache/pace/images; skipped when unchanged
	$(PY) -m pace.localstack.images build

.PHONY: test-images
test-images: images ## Run each image's entrypoint in a container (CI runs it after `make test`)
	$(PYTEST) -m images $(PYTEST_ARGS)

.PHONY: test-node
test-node: images system-deps-node ## A real kubelet node joined to the local control plane runs PACE's image (root)
	$(PYTEST) -m node -s $(PYTEST_ARGS)

##@ Local stack

.PHONY: up
up: install controlplane ## Start the local stack in the background (`pace local up`)
	$(VENV)/bin/pace local up

.PHONY: down
down: ## Stop the local stack (`pace local down`)
	$(VENV)/bin/pace local down

.PHONY: run
run: $(VENV)/.installed ## Run the operator from this host against the current kubeconfig
	$(PY) -m pace --verbose

.PHONY: demo
demo: install controlplane ## The main job: local stack + samples, shown as it happens
	$(PY) -m pace.demo

.PHONY: clean
clean: ## Remove the virtualenvs (the binary cache in ~/.cache/pace stays)
	rm -rf $(VENV) $(SERVING_VENV) $(TOOLS)
