"""From-scratch optimizers as ``torch.optim.Optimizer`` subclasses, learning-rate schedules and averaging.

Each optimizer's docstring states its update rule as the book writes it; where a configuration
coincides with ``torch.optim``, the results are identical (see tests/test_optim.py).
"""
