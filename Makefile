# Socket Rush developer commands. `make serve` and `make test` work on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PORT ?= 6001
# The demo app's secret is in this file: loopback only unless asked (BIND_ADDRESS=0.0.0.0).
BIND_ADDRESS ?= 127.0.0.1
STAMP := $(VENV)/.installed

.PHONY: serve test lint install interop-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,load,aws]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	@echo "Socket Rush on ws://127.0.0.1:$(PORT)/app/demo-key and http://127.0.0.1:$(PORT)"
	@echo "demo app: id=1234 key=demo-key secret=demo-secret (client events on)"
	@echo "listening on $(BIND_ADDRESS); to reach it from other machines: BIND_ADDRESS=0.0.0.0 make serve"
	@echo "the socketrush command is in .venv: run '. .venv/bin/activate' once per shell"
	$(BIN)/socketrush serve --port $(PORT) --bind-address $(BIND_ADDRESS) --app-id 1234 \
		--app-key demo-key --app-secret demo-secret --app-enable-client-messages true

lint: $(STAMP)
	$(BIN)/ruff check actors socketrush tests loadtests

test: $(STAMP) lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/interop/node_modules

# Refresh the dashboard's vendored browser libraries from the versions pinned in
# socketrush/dashboard/npm (package-lock.json): the server serves them itself, no CDN, and an
# installed package (pip, Docker) needs no npm. A test checks the copies match npm's files.
DASHBOARD_NPM := socketrush/dashboard/npm
.PHONY: dashboard-assets
dashboard-assets:
	cd $(DASHBOARD_NPM) && npm ci --no-audit --no-fund
	grep -v '^#' $(DASHBOARD_NPM)/vendored.txt | while read -r source target; do \
		cp $(DASHBOARD_NPM)/node_modules/$$source socketrush/dashboard/static/vendor/$$target; \
	done

# Regenerate the configuration reference from socketrush/options.py (a test checks it is current).
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m socketrush.reference > docs/configuration.md
