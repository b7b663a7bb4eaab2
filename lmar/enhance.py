"""One image of any size through Downsample -> Enhance -> Upsample (the ``lmar enhance`` verb)."""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from pathlib import Path

import torch

from lmar import checkpoint
from lmar.data.image_write import check_output_suffix, output_depth, write_image
from lmar.data.images import read_image_bits
from lmar.errors import LmarError
from lmar.interpolation import check_method, parse_scale, target_size
from lmar.pipeline import check_target, deu
from lmar.runtime import precision_mode, synchronize

def _resampler(name_or_ckpt: str, device: torch.device, allow: Collection[str]):
    """A registered untrained resampler by name, or a trained one from its checkpoint (whose spec
    may name only registered parts or the ``allow`` modules)."""
    path = Path(name_or_ckpt)
    if path.is_file():
        ckpt = checkpoint.load(path, "resampler")
        where = f"resampler checkpoint {path}: spec"
        return checkpoint.build_resampler(ckpt.get("spec"), path, device, where, allow)[0]
    if path.suffix == ".pt" or os.sep in name_or_ckpt:
        raise LmarError(f"resampler checkpoint not found: {path} (--resampler). Give an existing .pt file or a "
                        "registered resampler name (lmar list)")
    return checkpoint.build_resampler({"type": name_or_ckpt}, None, device, "--resampler", allow)[0]


def _check_paths(inp: Path, out: Path) -> None:
    """Refuse an output that would overwrite the input or that is a folder, before any work."""
    if out.is_dir():
        raise LmarError(f"output {out} is a folder; give a file name such as {out / (inp.stem + '_enhanced.png')}")
    if (out.exists() and inp.exists() and os.path.samefile(inp, out)) or out.resolve() == inp.resolve():
        raise LmarError(f"output {out} is the input {inp}: choose another output path (the input is never overwritten)")


def enhance_file(inp: Path, out: Path, backbone_ckpt: Path, resampler: str, scale, upsampler: str, device,
                 precision: str = "fp32", quality: int = 95, allow: Collection[str] = ()) -> str:
    """Enhance ``inp`` into ``out``, in the format its suffix names (16 bits per channel for a
    16-bit input where the format holds them); returns a one-line summary. ``precision``: one of
    :data:`lmar.runtime.PRECISIONS`; ``allow``: modules checkpoint specs may name."""
    inp, out = Path(inp), Path(out)
    scale = parse_scale(scale)
    check_method(upsampler, False)
    _check_paths(inp, out)
    check_output_suffix(out)  # before any work: an unknown suffix is refused at once
    x, bits = read_image_bits(inp)
    bits_out = output_depth(out, bits)
    backbone, _ = checkpoint.load_backbone(backbone_ckpt, device, allow)
    net = _resampler(resampler, device, allow)
    H, W = x.shape[-2:]
    size = (H, W) if net.is_identity else target_size((H, W), scale)
    if not net.is_identity and size == (H, W):
        raise LmarError(f"scale {scale:g} leaves {inp} at its size {H}x{W}; use a larger scale")
    check_target(size, (H, W), backbone, f"scale {scale:g} for {inp}")
    t0 = time.perf_counter()
    with torch.no_grad(), precision_mode(precision, device):
        y = deu(x[None].to(device), size, net, backbone, upsampler)
    synchronize(device)
    seconds = time.perf_counter() - t0
    write_image(y[0], out, bits_out, quality)
    how = "no resampling" if net.is_identity else f"via {size[0]}x{size[1]} (x{scale:g}, {resampler})"
    return f"{inp} {H}x{W} -> {out} {H}x{W} ({bits_out}-bit), {how}, {seconds:.2f} s on {device}"
