"""From-scratch optimizers as ``torch.optim.Optimizer`` subclasses, learning-rate schedules and averaging.

Each optimizer's docstring states its update rule as the book writes it; where a
configuration coincides with ``torch.optim``, the results are identical (see
tests/test_optim.py and tests/test_optim_torch_parity.py). Each update rule is also a small
public function on one tensor (``sgd_update``, ``adam_update``, ...): the code the book
prints. The classes call these functions with ``foreach=False``; by default they run a
multi-tensor fast path that gives the same numbers bit for bit (tests/test_optim_readable.py).
"""

from .adaptive import (
    AdaGrad,
    Adagrad,
    Adam,
    AdamW,
    RMSProp,
    RMSprop,
    adagrad_update,
    adam_update,
    ewma,
    rmsprop_update,
)
from .adadelta import Adadelta, adadelta_step, adadelta_update
from .averaging import PolyakAverage, polyak_update
from .delta_bar_delta import DeltaBarDelta, delta_bar_delta_update
from .schedules import InverseTimeDecay, LinearDecay
from .sgd import SGD, momentum_update, nesterov_update, sgd_update
from . import functional, theory
from .problems import NoisyQuadratic, trajectories
from .entropy_sgd import EntropySGD, MinibatchClosure, langevin_step
from .easgd import EASGD, elastic_update
