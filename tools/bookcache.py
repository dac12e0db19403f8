"""Where the book keeps its executed chapters, keyed by the library as well as the chapters' code.

jupyter-cache (the book's `execute_notebooks: cache`) matches an executed notebook by the code of
its cells only. The chapters' outputs also depend on coursekit: a function changed in the library
changes what a chapter prints and draws, and the source listings it shows with ``ck.show``. So the
cache lives in a folder named after a fingerprint of the library's source and requirements,

    _build/.jupyter_cache/<fingerprint>/

and every change to a ``coursekit/**/*.py`` file, requirements.txt or the package's dependencies
gives a new, empty cache: the next build executes every chapter again. Folders of other
fingerprints are removed when a new one is made, so the cache does not grow.

Three things use this folder and must agree on it: the book build (this module is a Sphinx extension,
enabled in _config.yml, that sets myst-nb's ``nb_execution_cache_path``), tools/execute_notebooks.py
(which fills the cache before `make book`) and the pytest plugin tools/pytest_nbval_book.py (which
stores nbval's executions there for the build after `make test`).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE_ROOT = (
    Path("_build") / ".jupyter_cache"
)  # execute.cache in _config.yml, relative to ROOT


def library_files(root: Path = ROOT) -> list[Path]:
    """The files whose content the chapters' outputs depend on, besides the chapters themselves."""
    files = sorted((root / "coursekit").rglob("*.py"))
    files += [
        p for p in (root / "requirements.txt", root / "pyproject.toml") if p.exists()
    ]
    return files


def _dependencies(pyproject: Path) -> str:
    """The package's [project] table (name, version, dependencies), not the tool settings."""
    import tomllib

    project = tomllib.loads(pyproject.read_text()).get("project", {})
    return repr(sorted((k, repr(v)) for k, v in project.items()))


def fingerprint(root: Path = ROOT) -> str:
    """A short hash of coursekit's source, requirements.txt and the package's dependencies."""
    digest = hashlib.sha256()
    for path in library_files(root):
        name = path.relative_to(root).as_posix()
        content = (
            _dependencies(path) if path.name == "pyproject.toml" else path.read_text()
        )
        digest.update(f"{name}\0{content}\0".encode())
    return digest.hexdigest()[:16]


def cache_path(root: Path = ROOT, *, prune: bool = True) -> Path:
    """The book's jupyter-cache folder for the library as it is now (absolute).

    With ``prune``, the folders of other fingerprints (stale executions) are deleted.
    """
    base = root / CACHE_ROOT
    current = base / fingerprint(root)
    if prune and base.is_dir():
        for other in base.iterdir():
            if other.is_dir() and other != current and len(other.name) == 16:
                shutil.rmtree(other, ignore_errors=True)
        # a cache of the earlier layout (one for every library version) is stale too
        for old in ("global.db", "__version__.txt", "executed"):
            path = base / old
            (
                shutil.rmtree(path, ignore_errors=True)
                if path.is_dir()
                else path.unlink(missing_ok=True)
            )
    return current


def _set_cache_path(app, config) -> None:
    root = Path(app.srcdir).resolve()
    config.nb_execution_cache_path = str(cache_path(root))


def setup(app):
    """Sphinx extension: point myst-nb's execution cache at the folder of this library version."""
    app.connect("config-inited", _set_cache_path, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
