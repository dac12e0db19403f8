"""Execute the chapters the book's cache does not hold yet, one process per core, before `make book`.

The book build (Jupyter Book, `execute_notebooks: cache`) runs the chapters that have no up-to-date
entry in its jupyter-cache, one after the other. This script fills the same cache first with
jupyter-cache's parallel executor, so a first build on a laptop takes about half as long; chapters
already cached (by an earlier build, or by `make test`, whose nbval run stores them) are skipped.
The cache is the book's folder for the current version of coursekit (tools/bookcache.py): after a
change to the library, every chapter is executed again.
A chapter that fails is reported here and left out of the cache: the build then runs it again and
stops with its traceback.

    .venv/bin/python tools/execute_notebooks.py          # what `make book` runs
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from bookcache import cache_path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300  # execute.timeout in _config.yml


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=ROOT / "notebooks",
        help="folder of the chapters",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="the book's jupyter-cache (default: the folder for this coursekit)",
    )
    args = parser.parse_args(argv)
    args.cache = args.cache or cache_path(ROOT)
    # Several kernels share the cores: one thread each (the chapters' tensors are
    # small).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    chapters = sorted(args.notebooks.resolve().glob("*.ipynb"))
    if not chapters:
        print(f"no notebooks in {args.notebooks}")
        return 1
    cache = get_cache(str(args.cache))
    for path in chapters:
        cache.add_nb_to_project(str(path))
    todo = cache.list_unexecuted([str(p) for p in chapters])
    if not todo:
        print(f"all {len(chapters)} chapters are in the book's cache")
        return 0
    print(
        f"executing {len(todo)} of {len(chapters)} chapters, {os.cpu_count()} at a"
        " time ...",
        flush=True,
    )
    logger = logging.getLogger("execute_notebooks")
    logger.addHandler(logging.NullHandler())
    start = time.perf_counter()
    result = load_executor("local-parallel", cache, logger=logger).run_and_cache(
        filter_uris=[r.uri for r in todo], timeout=TIMEOUT_S
    )
    print(
        f"executed {len(result.succeeded)} chapters in"
        f" {time.perf_counter() - start:.0f} s"
    )
    for uri in result.excepted + result.errored:
        print(
            f"FAILED: {Path(uri).name} (the book build will run it again and show the"
            " error)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
