"""Suite-wide set-up: enables the repository's pytest plugin for the chapter notebooks.

tools/pytest_nbval_book.py times every notebook nbval runs against the per-chapter budget and keeps
the executions for the book build (see its docstring).
"""

pytest_plugins = ["tools.pytest_nbval_book"]
