"""ck.setup: the one call of every chapter's first cell (FULL switch, plot style, seeds, device,
threads), and dir(ck) listing the submodules."""
import importlib
import pkgutil

import matplotlib as mpl
import numpy as np
import pytest
import torch

import coursekit as ck


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_setup_seeds_styles_and_limits_threads(monkeypatch, restore_threads):
    monkeypatch.delenv("COURSEKIT_FULL", raising=False)
    monkeypatch.delenv("COURSEKIT_DEVICE", raising=False)
    mpl.rcdefaults()
    FULL, device, generator = ck.setup(False)
    assert FULL is False and device == ck.device()
    assert torch.get_num_threads() == 1
    first = (torch.rand(3, generator=generator), torch.rand(3), np.random.rand(2))
    again = ck.setup(False)
    second = (torch.rand(3, generator=again.generator), torch.rand(3), np.random.rand(2))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for key, value in ck.plots.STYLE.items():
        assert mpl.rcParams[key] == mpl.rcParams.validate[key](value), key


def test_setup_reads_the_environment_and_keeps_threads_when_full(monkeypatch, restore_threads):
    torch.set_num_threads(2)
    monkeypatch.setenv("COURSEKIT_FULL", "1")
    s = ck.setup(False, seed=3, style=False)
    assert s.FULL is True and torch.get_num_threads() == 2
    assert torch.equal(torch.rand(4, generator=s.generator),
                       torch.rand(4, generator=torch.Generator().manual_seed(3)))
    monkeypatch.setenv("COURSEKIT_FULL", "0")
    assert ck.setup(True, style=False).FULL is False


def test_setup_bad_arguments():
    with pytest.raises(TypeError, match="default must be a bool"):
        ck.setup("yes")
    with pytest.raises(TypeError, match="style must be a bool"):
        ck.setup(False, style=1)
    with pytest.raises(ValueError, match="seed"):
        ck.setup(False, seed=-1, style=False)


def test_dir_lists_every_public_submodule_and_each_imports():
    modules = {m.name for m in pkgutil.iter_modules(ck.__path__) if not m.name.startswith("_")}
    assert {"data", "optim", "train", "sparse_coding", "continuation", "reparametrization"} <= modules
    assert "strategies" not in modules
    assert modules <= set(dir(ck)) and modules <= set(ck.__all__)
    for name in sorted(modules):
        assert getattr(ck, name) is importlib.import_module(f"coursekit.{name}")
