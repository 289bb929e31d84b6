"""``tape.cuda``: what scripts ask before choosing a device; tape has no CUDA backend.

>>> import tape
>>> tape.cuda.is_available(), tape.cuda.device_count()
(False, 0)
>>> device = tape.device("cuda" if tape.cuda.is_available() else "cpu")
>>> tape.zeros(2, device=device).device
device(type='cpu')
"""
from __future__ import annotations


def is_available() -> bool:
    """False: tape computes on the CPU only."""
    return False


def device_count() -> int:
    """0: there is no CUDA device tape can use."""
    return 0


def manual_seed(seed: int) -> None:
    """Nothing to seed (PyTorch without CUDA does nothing either); tape's generator is ``tape.manual_seed``."""


def manual_seed_all(seed: int) -> None:
    """Nothing to seed (PyTorch without CUDA does nothing either); tape's generator is ``tape.manual_seed``."""


__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all"]
