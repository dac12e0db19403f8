# The commands the README names. Each one sets up whatever it needs on a fresh machine.
#   make book   build the book (creating .venv and installing on first use) and print where to open it
#   make test   the whole test suite: coursekit unit tests, every notebook under nbval, the built book in a browser
#               (the book is built from the notebooks nbval ran: each chapter runs once)
#   make lab    JupyterLab on your own copy of the notebooks (my-notebooks/, never overwritten)
#   make pdf    the whole book as one PDF (after make book): _build/html/optimization-for-deep-learning.pdf
#   make format format the code the book shows (coursekit, the chapters' code cells) to 80 characters
#   make homework CHAPTERS="05 09"   student versions of those chapters' exercises (book/instructors.md)
#   make grade SUBMISSIONS=<zip or folder>   autograde a class: grades.csv and feedback per student
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
VENDOR := _vendor
# JavaScript the offline book serves itself instead of loading it from CDNs (fetched from the npm registry).
MATHJAX := mathjax@3.2.2
REQUIREJS := requirejs@2.3.8
HTML_MANAGER := @jupyter-widgets/html-manager@1.0.15

.PHONY: install assets browser sandbox book test lab pdf format clean help

help:
	@sed -n '2,9p' Makefile

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is needed, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	set -o pipefail; $(PY) -m pip install --quiet -r requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $(STAMP)

install: $(STAMP)

$(VENDOR)/.stamp:
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed once, to fetch MathJax and the widget manager for the offline book"; exit 1; }
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/.npm
	cd $(VENDOR)/.npm && npm pack --silent $(MATHJAX) $(REQUIREJS) $(HTML_MANAGER) >/dev/null
	mkdir -p $(VENDOR)/mathjax $(VENDOR)/html-manager
	tar xzf $(VENDOR)/.npm/mathjax-*.tgz -C $(VENDOR)/mathjax --strip-components=1 package/es5
	tar xzf $(VENDOR)/.npm/requirejs-*.tgz -C $(VENDOR) --strip-components=1 package/require.js
	mv $(VENDOR)/require.js $(VENDOR)/require.min.js
	tar xzf $(VENDOR)/.npm/jupyter-widgets-html-manager-*.tgz -C $(VENDOR)/html-manager --strip-components=2 package/dist
	rm -rf $(VENDOR)/.npm $(VENDOR)/html-manager/*.map
	touch $@

assets: $(VENDOR)/.stamp

# Debian's chromium for the headless-browser check of the built book (installed once, as root).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "could not install chromium; the browser check will fail (set COURSEKIT_SKIP_BROWSER=1 to skip it)"; \
	  else echo "chromium not found: install it, or set COURSEKIT_SKIP_BROWSER=1 to skip the browser check"; fi; }

# Debian's bubblewrap: the sandbox `make grade` runs each student's code in (installed once, as root;
# it waits for another apt-get, e.g. the browser's, to finish).
sandbox:
	@command -v bwrap >/dev/null || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get \
	     -o DPkg::Lock::Timeout=600 install -y -qq bubblewrap >/dev/null) \
	    || echo "could not install bubblewrap: grading would run student code without a sandbox"; \
	  else echo "bubblewrap not found (apt-get install bubblewrap): grading would run student code without a sandbox"; fi; }

# Chapters not in the book's cache yet are executed first, one per core (tools/execute_notebooks.py).
book:
	@$(MAKE) --no-print-directory -j2 install assets
	@set -o pipefail; $(PY) tools/execute_notebooks.py 2>&1 | { grep -v "Kernel is running over TCP" || true; }
	$(BIN)/jupyter-book build . --warningiserror --quiet
	@echo "The book is built. Open: file://$(CURDIR)/_build/html/index.html"
	@if [ -z "$$CI" ] && { [ -n "$$DISPLAY" ] || [ "$$(uname)" = Darwin ]; }; then \
	  $(PY) -m webbrowser -t "file://$(CURDIR)/_build/html/index.html" >/dev/null 2>&1 || true; fi

# The three set-up steps run side by side (they mostly wait on downloads). Then the unit tests and
# every notebook (two workers, one core each, so the per-notebook times are honest), then the book,
# built from the notebooks nbval just executed (tools/pytest_nbval_book.py), and checked in the browser;
# with those executions, every number of the chapters' prose is checked (tools/prose_numbers.py).
test:
	@$(MAKE) --no-print-directory -j3 install assets browser
	@$(MAKE) --no-print-directory sandbox
	$(PY) -m pytest --ignore=tests/test_book.py
	COURSEKIT_REQUIRE_EXECUTED=1 $(PY) -m pytest tests/test_book.py tests/test_prose_numbers.py -n 0

# Students work in copies of the chapters (my-notebooks/, ignored by git): a chapter is copied there
# the first time, never overwritten, so `git pull` of a new version of the book never conflicts
# with a student's work (README: "Your own copy").
STUDENT_COPY ?= my-notebooks
lab: install
	@mkdir -p $(STUDENT_COPY)
	@for nb in notebooks/*.ipynb; do \
	  if [ ! -e "$(STUDENT_COPY)/$${nb##*/}" ]; then cp "$$nb" "$(STUDENT_COPY)/" && echo "copied $$nb to $(STUDENT_COPY)/"; fi; \
	done
	$(BIN)/jupyter lab $(STUDENT_COPY)/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# The whole book as one PDF, printed offline by Debian's chromium from a single-page build of the
# book (tools/book_pdf.py; needs `make book` first, whose executions it reuses).
pdf: install assets browser
	$(PY) tools/book_pdf.py

# The code a reader sees, formatted to the page's 80 characters (pyproject.toml [tool.black]),
# long own-line comments wrapped, notebooks normalized; tests/test_code_width.py checks the rest.
format: install
	$(BIN)/black --quiet coursekit notebooks
	$(PY) tools/wrap_comments.py coursekit notebooks
	$(PY) tools/normalize_notebooks.py

# Homework (book/instructors.md). `make homework CHAPTERS="05 09"` (default: every chapter) writes the
# student notebooks to $(COURSE)/release/; `make grade SUBMISSIONS=~/Downloads/submissions.zip` (folders
# or zips; default: $(COURSE)/submitted/) writes $(COURSE)/grades.csv and per-student feedback.
COURSE ?= homework
.PHONY: homework grade

homework: install
	$(PY) tools/homework.py release $(CHAPTERS) --course $(COURSE)

grade: install sandbox
	$(PY) tools/homework.py grade $(SUBMISSIONS) --course $(COURSE)$(if $(WORKERS), --workers $(WORKERS))

clean:
	rm -rf _build homework .pytest_cache
