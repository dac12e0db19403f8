"""From-scratch optimizers as ``torch.optim.Optimizer`` subclasses, learning-rate schedules and averaging.

Each optimizer's docstring states its update rule as the book writes it; where a configuration
coincides with ``torch.optim``, the results are identical (see tests/test_optim.py).
"""
from .adaptive import AdaGrad, Adagrad, Adam, AdamW, RMSProp, RMSprop, ewma
from .adadelta import Adadelta, adadelta_step, adadelta_update
from .averaging import PolyakAverage
from .delta_bar_delta import DeltaBarDelta
from .schedules import InverseTimeDecay, LinearDecay
from .sgd import SGD
from . import functional, theory
from .problems import NoisyQuadratic, trajectories
from .entropy_sgd import EntropySGD, MinibatchClosure
from .easgd import EASGD
