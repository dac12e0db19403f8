"""coursekit: the small PyTorch library behind the textbook on optimization for deep learning.

The chapters import it; every algorithm they teach lives here, readable and GPU-capable.
Submodules load on first use, so ``import coursekit`` is quick::

    import coursekit as ck
    ck.seed_everything(0)
    split = ck.data.digits()          # loads coursekit.data on first access
"""
from __future__ import annotations

import importlib

from .runtime import device, full_mode, seed_everything
from .source import show

__version__ = "0.1.0"
__all__ = ["device", "full_mode", "seed_everything", "show"]


def __getattr__(name: str):
    # Lazy submodules: ck.data, ck.train, ck.optim, ... are imported the first time they are used.
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            raise AttributeError(f"module 'coursekit' has no attribute or submodule {name!r}") from None
        raise
    globals()[name] = module
    return module
