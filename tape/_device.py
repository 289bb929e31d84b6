"""``tape.device``: PyTorch's device objects, for scripts that pass ``device=``; tape computes on the CPU only.

Every factory function, ``Tensor.to``, ``Tensor.cpu`` and the nn layers accept
``device=None``, ``"cpu"`` (``"cpu:0"``) or ``tape.device("cpu")`` (a
``torch.device`` too). Any other device raises a RuntimeError that names it:
tape has no accelerator backend, and quietly computing on the CPU what a script
asked to run elsewhere would hide the mismatch.

>>> import tape
>>> tape.zeros(2, device="cpu").device
device(type='cpu')
"""
from __future__ import annotations

import builtins
from typing import Optional

# the device types PyTorch's parser knows (torch.device("foo") lists them in its error)
_KNOWN = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia", "xla",
          "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


class device:
    """A device: ``type`` (``"cpu"``, ``"cuda"``...) and an optional ``index``, as ``torch.device``.

    Constructing any known device type works (as in PyTorch); using one other
    than the CPU for a tensor raises.

    >>> import tape
    >>> tape.device("cpu"), str(tape.device("cpu:0")), tape.device("cuda", 1).index
    (device(type='cpu'), 'cpu:0', 1)
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str, index: Optional[builtins.int] = None) -> None:  # noqa: A002 - PyTorch's name
        if isinstance(type, device):
            if index is not None:
                raise RuntimeError("tape.device(): pass either a device or a type and an index, not both")
            type, index = type.type, type.index
        elif isinstance(type, builtins.int) and not isinstance(type, builtins.bool) and index is None:
            # torch.device(0) is the current accelerator's device 0
            type, index = "cuda", type
        elif not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got "
                            f"({builtins.type(type).__name__})")
        if ":" in type:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: "
                                   f"{type}")
            type, _, text = type.partition(":")
            if not text.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}:{text}'")
            index = builtins.int(text)
        if type not in _KNOWN:
            raise RuntimeError(f"Expected one of {', '.join(_KNOWN)} device type at start of device string: {type}")
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type = type
        self.index = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if not isinstance(other, device):
            return NotImplemented  # as PyTorch: a device never equals a string
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> builtins.int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))


CPU = device("cpu")


def check_device(where) -> None:
    """Accept ``where`` (None, a string, a tape or torch device, an index) if it names the CPU, else raise naming it."""
    if where is None:
        return
    if isinstance(where, device):
        d = where
    elif isinstance(where, (str, builtins.int)) and not isinstance(where, builtins.bool):
        d = device(where)
    elif type(where).__name__ == "device" and hasattr(where, "type"):  # a torch.device
        d = device(str(where))
    else:
        raise TypeError(f"device must be a string, a tape.device or None, got {type(where).__name__}")
    if d.type != "cpu":  # "cpu:1" is the CPU too, as in PyTorch
        raise RuntimeError(f"tape computes on the CPU only: device '{d}' is not available (tape has no "
                           f"{d.type} backend). Pass device='cpu' or leave device out.")
