# Two commands from a fresh clone (see README.md):
#   make            set up everything, run the study (reusing the committed models) and build the deck
#   make test       set up the development environment and run the test suite
# Offline, point the data at a local copy:  make MIA_DATA_DIR=../shared/data/cifar10.npz
#
# Set-up steps are file targets, so each runs once and again only when its lock changes:
#   .venv/.installed       Python packages from requirements.txt (exact versions, sha256-checked)
#   .venv/.installed-dev   the same plus the development set, from requirements-dev.txt
#   .venv/.installed-cluster  Ray, for `invoke experiments --executor ray` (make cluster), from
#                          requirements-cluster.txt; the test suite's Ray tests need it
#   slides/node_modules    Marp CLI from slides/package-lock.json (npm ci)
#   chromium               Debian's chromium for the deck's PDF, when running as root; otherwise
#                          the deck is built as HTML and the PDF step says it was skipped

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MIA_DATA_DIR

.PHONY: all study experiments slides test cluster chromium clean
all: study

# the verdict last: its final line says whether every experiment reproduced, and make exits 1
# when one did not
study: experiments slides
	$(BIN)/invoke verdict

# A run that would train for more than 10 minutes on CPU stops first and says why (for
# example, data other than the committed models were made from); `make TRAIN=1` goes on.
experiments: $(VENV)/.installed
	$(BIN)/invoke experiments $(if $(TRAIN),--train)

slides: $(VENV)/.installed slides/node_modules/.installed chromium
	$(BIN)/invoke slides

test: $(VENV)/.installed-dev $(VENV)/.installed-cluster slides/node_modules/.installed chromium
	$(BIN)/invoke test

# Ray, not part of the default install: training jobs on a Ray cluster (README, "Running on a
# cluster"). Its lock holds the default set's versions (it was compiled against them) plus Ray.
cluster: $(VENV)/.installed-cluster

$(VENV)/bin/pip:
	$(PYTHON) -m venv $(VENV)

# --no-deps for the project itself: every dependency comes from the lock, hash-checked.
$(VENV)/.installed: requirements.txt pyproject.toml | $(VENV)/bin/pip
	$(BIN)/pip install --require-hashes -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt pyproject.toml | $(VENV)/bin/pip
	$(BIN)/pip install --require-hashes -r requirements-dev.txt
	$(BIN)/pip install --no-deps -e .
	touch $@ $(VENV)/.installed

$(VENV)/.installed-cluster: requirements-cluster.txt $(VENV)/.installed
	$(BIN)/pip install --require-hashes -r requirements-cluster.txt
	touch $@

slides/node_modules/.installed: slides/package-lock.json
	npm ci --prefix slides
	touch $@

chromium:
	@if command -v chromium >/dev/null 2>&1 || [ -n "$$CHROME_PATH" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update && apt-get install -y chromium) || echo "make: chromium not installed; the deck's PDF will be skipped" >&2; \
	else echo "make: no chromium (install it, or set CHROME_PATH); the deck's PDF will be skipped" >&2; fi

clean:
	$(BIN)/invoke clean
