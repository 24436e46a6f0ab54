# labkit's commands. `make app` on a fresh machine creates .venv, installs labkit and starts the web app (teachers);
# `make lab` does the same installation and opens the lessons in JupyterLab (students);
# `make test` also installs the test and hub extras and Debian's chromium for the browser tests, runs `make lint`,
# then pytest (tests/ and every notebook).

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PORT ?= 8866
LAB_IP ?= 127.0.0.1
LAB_PORT ?= 8888
LAB_ARGS ?=
PYTEST_ARGS ?=
# pytest's workers (pytest-xdist): two for CI's two cores; conftest.py keeps a notebook or a module on one worker.
TEST_WORKERS ?= 2
VOILA_ARGS ?=
CHROMIUM := /usr/bin/chromium

.PHONY: venv chromium hub-deps axe lint test app lab practice assignments bench notebooks clean

# `make venv`: everything, for `make test` and development. `make app` and `make lab` install only what running needs.
venv: $(TEST_STAMP)

$(VENV_PYTHON):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "labkit needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1). Run: make PYTHON=python3.11 ..." >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
		{ echo "$(PYTHON) cannot create a virtual environment (Debian and Ubuntu ship that part separately). Install it: sudo apt-get install -y python3-venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --upgrade pip

# Two installations, each redone only when pyproject.toml (the dependency list) is newer than it. What running needs:
# labkit and its dependencies (JupyterLab and Voilà included) and nbgrader (the `teach` extra: `make lab`'s practice
# copies). What testing adds: the `test` extra (pytest, Playwright's Python package, the linters) and the `hub` extra
# (JupyterHub, which tests/hub runs); after `make lab`, `make test` installs only these. The app's Voilà template
# (voila.json's "labkit": every asset served locally) is linked where Voilà looks for templates: an editable install
# leaves out pyproject's data-files.
VOILA_TEMPLATES := $(VENV)/share/jupyter/voila/templates
$(STAMP): pyproject.toml | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install -e ".[teach]"
	mkdir -p $(VOILA_TEMPLATES) && ln -sfn $(CURDIR)/labkit/app/template $(VOILA_TEMPLATES)/labkit
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(VENV_PYTHON) -m pip install -e ".[teach,test,hub]"
	touch $@

# The browser tests drive Debian's chromium through Playwright's Python package. Never `playwright install`:
# it downloads a browser build of its own, which is neither needed nor reachable from CI.
chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
	else echo "The browser tests need $(CHROMIUM). Install Debian's chromium as root: apt-get update && apt-get install -y chromium" >&2; exit 1; fi; \
	echo "Installing Debian's chromium for the browser tests"; \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# The checks pyproject.toml configures: labkit's layers imported one way (import-linter), lint and format (ruff) of
# the whole repository's Python (labkit, tests, benchmarks, tools), and labkit's types (mypy). `make test` runs them
# before pytest.
LINTED := labkit tests benchmarks tools conftest.py
lint: venv
	PYTHONPATH=$(CURDIR) $(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy labkit

# JupyterHub's proxy (deploy/jupyterhub_config.py, tests/hub/) is configurable-http-proxy from npm, installed into
# the git-ignored .hub/ folder; JupyterHub itself is pyproject's `hub` extra. 4.6: it runs on Node.js 10 and newer
# (Debian 12's 18 included); 5.x needs Node.js 20.19 or newer.
HUB_PROXY_VERSION := 4.6.3
HUB_PROXY_STAMP := .hub/.installed-$(HUB_PROXY_VERSION)
hub-deps: $(HUB_PROXY_STAMP)

$(HUB_PROXY_STAMP):
	@command -v npm >/dev/null 2>&1 || \
		{ echo "JupyterHub's proxy needs Node.js and npm: apt-get install -y nodejs npm" >&2; exit 1; }
	npm install --prefix .hub --no-audit --no-fund configurable-http-proxy@$(HUB_PROXY_VERSION)
	touch $@

# axe-core, the accessibility engine behind browsers' own audits: the browser tests run it on the app and on a lesson's
# widgets (tools/accessibility.py). From npm like the proxy, pinned, into the git-ignored .axe/ folder (its MPL-2.0
# licence comes with it there), rather than a copy of its minified bundle in git.
AXE_VERSION := 4.14.1
AXE_STAMP := .axe/.installed-$(AXE_VERSION)
axe: $(AXE_STAMP)

$(AXE_STAMP):
	@command -v npm >/dev/null 2>&1 || \
		{ echo "The accessibility tests need axe-core from npm: apt-get install -y nodejs npm" >&2; exit 1; }
	npm install --prefix .axe --no-audit --no-fund axe-core@$(AXE_VERSION)
	touch $@

test: venv chromium hub-deps axe lint
	$(VENV_PYTHON) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Voilà reads its settings (upload and message size limits, kernel culling) from ./voila.json: standalone
# `voila` searches Voila.config_file_paths, which defaults to [os.getcwd(), *jupyter_config_path()] with the
# current directory first and winning (voila/app.py, _config_file_paths_default). So run it from the repo root.
# Command-line options still beat the file, e.g. VOILA_ARGS="--Voila.ip=0.0.0.0" to serve a classroom.
# voila.json pre-heats a pool of 10 kernels at start (docs/classroom.md says why): convert the model for LiteRT first (once; README's "first start ever" row),
# so the pool's kernels load it rather than each converting it with TensorFlow at the same time. If it fails
# (no weights), the app still starts and says what is missing.
app: $(STAMP)
	-$(VENV_PYTHON) -c "from labkit.model import shared_classifier; shared_classifier()"
	$(VENV)/bin/voila notebooks/dashboard.ipynb --port=$(PORT) $(VOILA_ARGS)

# The lessons in JupyterLab, on this machine only (loopback) and behind Jupyter's token, which it prints with the
# link to open. It opens practice/: your own copies of the lessons, with the exercises to do (nbgrader's students'
# copies, tools/assignments.py), made on first use and never overwritten (delete one to start it again). Its root is
# the repository, as on Binder: the same URLs (/lab/tree/practice/01_...), data/ one click away. The
# teacher's copies, with the solutions, are notebooks/. Widgets work out of the box: ipywidgets 8 ships JupyterLab's
# extension. As root (a container, Binder's build), JupyterLab refuses to start without --allow-root. LAB_ARGS adds
# options, e.g. LAB_ARGS="--no-browser"; an address or port it gives replaces LAB_IP's or LAB_PORT's (Jupyter refuses
# an option given twice), e.g. LAB_ARGS="--ServerApp.ip=0.0.0.0" or LAB_IP=0.0.0.0.
# Before JupyterLab starts, the model is made ready here, in the terminal: the first time, labkit builds the weights
# and converts the model for LiteRT (float32, and int8 for lesson 07), about a minute, with a line saying so. In a
# lesson, those lines would land on stderr, which JupyterLab shows in red ("an error", to a student). Later runs
# find them cached and go on at once; if it fails, the lessons say what is missing.
lab: $(STAMP) practice
	-$(VENV_PYTHON) -c "from labkit.model import shared_classifier as ready; ready(); ready('litert-int8')"
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/practice \
		$(call unless_in_lab_args,ip,--ip=$(LAB_IP)) $(call unless_in_lab_args,port,--port=$(LAB_PORT)) \
		$$( [ "$$(id -u)" -eq 0 ] && echo --allow-root ) $(LAB_ARGS)

# $(call unless_in_lab_args,NAME,OPTION): OPTION, unless LAB_ARGS sets ServerApp's NAME itself (--NAME or
# --ServerApp.NAME, with = or a space).
unless_in_lab_args = $(if $(filter --$(1) --$(1)=% --ServerApp.$(1) --ServerApp.$(1)=%,$(LAB_ARGS)),,$(2))

# The students' copies are made again only when a lesson (or nbgrader_config.py) changed since the last time.
LESSONS := $(wildcard notebooks/[0-9][0-9]_*.ipynb)
RELEASED := course/release/.made

$(RELEASED): $(LESSONS) nbgrader_config.py | $(STAMP)
	$(VENV_PYTHON) tools/assignments.py --course course
	touch $@

practice: $(STAMP) $(RELEASED)
	$(VENV_PYTHON) tools/assignments.py --course course --practice practice --copy-only

# The teacher's nbgrader course (docs/teaching.md): course/source/ holds the lessons with their solutions,
# course/release/ the students' copies, course/gradebook.db the assignments. Re-run after changing a lesson.
assignments: $(STAMP)
	$(VENV_PYTHON) tools/assignments.py --course course --gradebook

bench: venv
	@set -e; ls benchmarks/*.py >/dev/null 2>&1 || { echo "No scripts in benchmarks/" >&2; exit 1; }; \
	for script in benchmarks/[!_]*.py; do echo "== $$script"; $(VENV_PYTHON) $$script; done; \
	$(VENV_PYTHON) tools/readme_figures.py

# Re-execute the lessons in place (after changing labkit or the weights), then commit them with their outputs.
notebooks: venv
	$(VENV_PYTHON) tools/run_notebooks.py

clean:
	rm -rf build dist *.egg-info test-artifacts .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
