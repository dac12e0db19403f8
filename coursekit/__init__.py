"""coursekit: the PyTorch library behind the textbook on optimization for deep learning.

The chapters import it; every algorithm they teach lives here, readable and GPU-capable.
``dir(ck)`` lists the submodules; each loads on first use, so importing is quick::

    import coursekit as ck
    FULL, device, generator = ck.setup(FULL)   # seeds, plot style, device, threads
    split = ck.data.digits()                   # loads coursekit.data on first access
"""

from __future__ import annotations

import importlib
import pkgutil

from .runtime import Setup, device, full_mode, seed_everything, setup
from .source import show

__version__ = "0.1.0"
# The public submodules: every module of the package whose name does not start
# with "_".
SUBMODULES = tuple(
    sorted(
        m.name
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_")
    )
)
__all__ = [
    "Setup",
    "device",
    "full_mode",
    "seed_everything",
    "setup",
    "show",
    *SUBMODULES,
]


def __getattr__(name: str):
    # Lazy submodules: ck.data, ck.optim, ... are imported the first time they
    # are used.
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            raise AttributeError(
                f"module 'coursekit' has no attribute or submodule {name!r}"
            ) from None
        raise
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    # What a reader looks for: the functions above and every submodule (loaded
    # or not).
    return sorted([*__all__, "SUBMODULES", "__version__"])
