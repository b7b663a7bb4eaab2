"""The authors' released models: where they are, their checksums, and converters to our modules.

Two files from the authors' repository (YPatrickW/LMAR, folder ``pretrained_models/``):
- ``base_model.bin``: their U-Net (registered here as ``lmar_unet``) trained on UHD-LOL4K;
- ``LMAR_model.bin``: LMAR trained against it: ``model.*`` (the same U-Net), ``modulation.*`` (the
  1x1 fusion convolution) and ``imnet.params`` (the per-pixel MLP as one tiny-cuda-nn vector).

Both are plain dicts of tensors and numbers, read with ``weights_only=True`` after their sha256 is
checked. The MLP vector holds the layer matrices one after another, each row-major (out, in) as
``nn.Linear.weight``: (128, 16), four (128, 128), (96, 128). tiny-cuda-nn pads the 7 inputs to 16
with the value 1.0, so columns 7..15 of the first matrix act together as a first-layer bias (their
row sums); there are no other biases; output rows 81..95 are padding. :func:`mlp_state_dict` turns
the vector into the state of :func:`lmar.parts.lmar.inputs.kernel_mlp` exactly.
"""

from __future__ import annotations

import inspect
import io
from pathlib import Path

import torch

from lmar.core.errors import LmarError
from lmar.core.hashing import read_file_checked

COMMIT = "5c2542642cf31112d452fe63fc82498086e05a3b"
URL = f"https://github.com/YPatrickW/LMAR/raw/{COMMIT}/pretrained_models/"
FILES = {  # name -> (file name, sha256)
    "backbone": ("base_model.bin", "45d49de91c08e7a6080d60f7059482fcd443377982e1908045625759e5931772"),
    "lmar": ("LMAR_model.bin", "27f1ada04c3297053af030ec2547a06f54d5de5e1ec20f3b430a9dd2f2f666ff"),
}
# The largest released file read (bytes): both are a few MB (a U-Net of width 8, plus LMAR's MLP)
MAX_RELEASED_BYTES = 256 * 2**20
# tiny-cuda-nn's FullyFusedMLP as the authors configured it
TCNN_IN, TCNN_PAD_IN, TCNN_OUT, TCNN_PAD_OUT, HIDDEN, DEPTH = 7, 16, 81, 96, 128, 5


def read_released(path: str | Path, name: str) -> dict:
    """The content of released file ``name`` ("backbone" or "lmar") at ``path``: a regular file of at
    most MAX_RELEASED_BYTES, read once and hashed as it is read; the sha256 checked before anything is
    unpickled, then the same bytes loaded as tensors only."""
    path = Path(path)
    file_name, sha = FILES[name]
    if not path.exists():
        raise LmarError(f"cannot read the authors' {file_name} at {path}: no such file. Fetch it (seed_weights) "
                        f"or give its local path")
    data, digest = read_file_checked(path, MAX_RELEASED_BYTES, f"the authors' {file_name} at")
    if digest != sha:
        raise LmarError(f"{path} is not the authors' {file_name}: sha256 {digest}, expected {sha}. Delete it and "
                        "fetch it again")
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - never torch's advice to load it fully (that would run its code)
        raise LmarError(f"{path}: cannot read the authors' {file_name} as tensors ({type(exc).__name__}); a file "
                        "holding other Python objects would run code if fully loaded, so it is refused. Delete it "
                        "and fetch it again") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("state_dict"), dict):
        raise LmarError(f"{path}: expected a dict with a 'state_dict'")
    return obj


def mlp_state_dict(params: torch.Tensor) -> dict[str, torch.Tensor]:
    """The tiny-cuda-nn parameter vector as the state dict of ``kernel_mlp(128, 5)`` (float32)."""
    sizes = [(HIDDEN, TCNN_PAD_IN)] + [(HIDDEN, HIDDEN)] * (DEPTH - 1) + [(TCNN_PAD_OUT, HIDDEN)]
    expected = sum(o * i for o, i in sizes)
    if params.ndim != 1 or params.numel() != expected:
        raise LmarError(f"the MLP parameter vector has {params.numel()} values, expected {expected}")
    mats, start = [], 0
    for o, i in sizes:
        mats.append(params[start : start + o * i].double().view(o, i))
        start += o * i
    state = {}
    for layer, m in enumerate(mats):
        key = f"{2 * layer}"  # nn.Sequential index: Linear layers sit at even positions
        if layer == 0:  # the padded inputs are 1.0: their columns' row sums are the first layer's bias
            state[f"{key}.weight"], state[f"{key}.bias"] = m[:, :TCNN_IN].float(), m[:, TCNN_IN:].sum(dim=1).float()
        else:  # no bias; the last layer's rows past TCNN_OUT are padding
            state[f"{key}.weight"] = (m[:TCNN_OUT] if layer == len(mats) - 1 else m).float()
    return state


def lmar_state_dict(released: dict) -> dict[str, torch.Tensor]:
    """Our LMAR's state (``mlp.*``, ``fuse.*``) from the content of ``LMAR_model.bin``."""
    sd = released["state_dict"]
    missing = [k for k in ("imnet.params", "modulation.weight", "modulation.bias") if k not in sd]
    if missing:
        raise LmarError(f"the released LMAR state lacks {missing}")
    state = {f"mlp.{k}": v for k, v in mlp_state_dict(sd["imnet.params"]).items()}
    state["fuse.weight"], state["fuse.bias"] = sd["modulation.weight"].float(), sd["modulation.bias"].float()
    return state


def released_file(cls: type, where: str) -> str:
    """The released file name for a part class that has one (its ``released`` attribute)."""
    key = getattr(cls, "released", None)
    if key not in FILES:
        raise LmarError(f"{where}: {getattr(cls, 'registry_name', cls.__name__)} has no released weights; "
                        "remove 'weights' (it is trained instead)")
    return FILES[key][0]


def check_released_params(cls: type, params: dict, where: str) -> None:
    """Refuse params that the released weights load into but were not trained with: the class's
    ``released_params`` (e.g. LMAR's resize R), each compared with ``params`` or else the constructor's
    default. The state dict cannot tell these apart, so without this the weights would run as another method."""
    wanted = getattr(cls, "released_params", None) or {}
    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}
    off = {k: params.get(k, defaults.get(k)) for k, v in wanted.items() if params.get(k, defaults.get(k)) != v}
    if off:
        have = ", ".join(f"{k}: {v!r}" for k, v in off.items())
        need = ", ".join(f"{k}: {wanted[k]!r}" for k in off)
        raise LmarError(f"{where}: the released weights were trained with {need}, not {have}; "
                        f"set params {{{need}}} or remove 'weights' (train it instead)")


def fetch(name: str, out: str | Path, base_url: str = URL) -> None:
    """Download released file ``name`` ("backbone" or "lmar") to ``out``, its sha256 checked
    (resumable, all-or-nothing: :func:`lmar.data.download.download`)."""
    from lmar.data.download import download

    file_name, sha = FILES[name]
    download(base_url + file_name, Path(out), sha256=sha, retries=2)


