"""Shared set-up for the unit tests."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One torch thread per test process: the tensors here are tiny, and the suite runs two workers on
    two cores, so extra intra-op threads only fight over the cores. (The root conftest.py also sets
    OMP_NUM_THREADS=1 for processes started later; this covers a torch imported before it took effect.)"""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
