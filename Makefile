# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SRC := src tests bench

.PHONY: install tools demo test lint typecheck unit integration chaos bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@# LightGBM's wheel links the system's OpenMP runtime (Debian: libgomp1)
	@ldconfig -p | grep -q libgomp.so.1 || { [ "$$(id -u)" = 0 ] && \
		apt-get install -y -q libgomp1 >/dev/null; } || \
		{ echo "LightGBM needs libgomp.so.1: apt-get install libgomp1"; exit 1; }
	touch $(STAMP)

install: $(STAMP)

# Chromium, promtool and amtool for the browser and alerting tests (Debian packages)
tools:
	@scripts/ensure-tools.sh

demo: $(STAMP)
	mkdir -p var
	$(BIN)/quantum run --mode paper --symbol-count 8 --duration 6 --json var/demo-summary.json

lint: $(STAMP)
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)

typecheck: $(STAMP)
	$(BIN)/mypy src

test: lint typecheck tools
	$(BIN)/pytest -p no:cacheprovider --durations=30 -n 2 --dist loadgroup

unit: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider tests/unit

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
