"""``tape.nn``: modules, layers, losses and initialisers with PyTorch's names and numbers.

>>> import tape
>>> from tape import nn
>>> _ = tape.manual_seed(0)
>>> net = nn.Sequential(nn.Linear(2, 10), nn.Tanh(), nn.Linear(10, 3))
>>> loss = nn.functional.mse_loss(net(tape.randn(8, 2)), tape.zeros(8, 3))
>>> loss.backward()
>>> net[0].weight.grad.shape
(10, 2)
"""
from . import functional, init, utils
from .layers import (CELU, ELU, GELU, SELU, Bilinear, Dropout, Flatten, Hardsigmoid, Hardswish, Hardtanh, Identity,
                     LayerNorm, LeakyReLU, Linear, LogSoftmax, Mish, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus,
                     Softsign, Tanh, Tanhshrink)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, GaussianNLLLoss, HuberLoss, KLDivLoss, L1Loss,
                   MSELoss, NLLLoss, SmoothL1Loss)
from .module import Module, ModuleDict, ModuleList, Sequential
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Identity", "Linear", "Bilinear",
           "Flatten", "Dropout", "LayerNorm", "Tanh", "ReLU", "Sigmoid", "Softplus", "GELU", "SiLU", "ELU",
           "LeakyReLU", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "Mish", "Softsign", "Tanhshrink", "CELU",
           "SELU", "Softmax", "LogSoftmax", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
           "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "GaussianNLLLoss",
           "functional", "init", "utils"]
