"""Device choice, seeds and the FULL switch: ``setup`` does all of it in every chapter's first cell."""

from __future__ import annotations

import os
import random
from typing import NamedTuple

import numpy as np
import torch

from . import _args

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on: CUDA when present, else Apple's MPS, else the CPU.

    Args:
        prefer: force a device type (``"cpu"``, ``"cuda"``, ``"mps"``); ``None`` picks the best available.
            The environment variable ``COURSEKIT_DEVICE`` overrides the automatic choice too.

    Returns:
        a ``torch.device``.
    """
    prefer = (
        prefer
        if prefer is not None
        else os.environ.get("COURSEKIT_DEVICE") or None
    )
    if prefer is not None:
        if not isinstance(prefer, str):
            raise TypeError(
                "prefer must be a device name string, got"
                f" {type(prefer).__name__}"
            )
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"prefer={prefer!r} but CUDA is not available on this machine"
            )
        return dev
    if torch.cuda.is_available():
        return torch.device(type="cuda", index=0)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) and return a fresh CPU ``torch.Generator`` with that seed.

    Two runs of a notebook that calls this first give the same numbers on the same machine.
    """
    seed = _args.positive_int("seed", seed, allow_zero=True)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def full_mode(default: bool = False) -> bool:
    """The FULL switch: ``True`` runs the paper-sized experiments.

    Reads the environment variable ``COURSEKIT_FULL`` (``1``/``true``/``yes`` or ``0``/``false``/``no``);
    when it is unset the notebook's own ``default`` wins.
    """
    if not isinstance(default, bool):
        raise TypeError(f"default must be a bool, got {type(default).__name__}")
    raw = os.environ.get("COURSEKIT_FULL")
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"COURSEKIT_FULL must be one of 1/0/true/false/yes/no, got {raw!r}"
    )


class Setup(NamedTuple):
    """What :func:`setup` returns (unpack it: ``FULL, device, generator = ck.setup(FULL)``)."""

    FULL: bool
    device: torch.device
    generator: torch.Generator


def setup(full: bool = False, *, seed: int = 0, style: bool = True) -> Setup:
    """Prepare a chapter: the FULL switch, plot style, seeds, device and thread policy, in one call.

    The first code cell of every chapter is::

        import coursekit as ck
        FULL, device, generator = ck.setup(FULL)   # seeds, plot style, device, threads

    In order, it

    1. reads the FULL switch, :func:`full_mode` (``COURSEKIT_FULL=1`` in the environment turns it on);
    2. applies the book's matplotlib style (:func:`coursekit.plots.use_style`) unless ``style=False``;
    3. seeds Python, NumPy and torch with :func:`seed_everything` (two runs give the same numbers);
    4. picks the device with :func:`device` (CUDA when present, else CPU; never hard-code ``"cuda"``);
    5. unless FULL, limits torch to one CPU thread: the default experiments use small tensors, for
       which one thread is faster than several (and two notebooks can share two cores).

    Args:
        full: the chapter's ``FULL`` parameter (the environment may override it).
        seed: the seed of every random generator.
        style: apply the book's plot style.

    Returns:
        a :class:`Setup` ``(FULL, device, generator)``: the effective FULL switch, the device and a
        CPU ``torch.Generator`` seeded with ``seed``.
    """
    if not isinstance(style, bool):
        raise TypeError(f"style must be a bool, got {type(style).__name__}")
    full = full_mode(full)
    if style:
        from . import plots

        plots.use_style()
    generator = seed_everything(seed)
    chosen = device()
    if not full:
        torch.set_num_threads(1)
    return Setup(full, chosen, generator)
