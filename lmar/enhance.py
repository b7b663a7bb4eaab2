"""One image of any size through Downsample -> Enhance -> Upsample (the ``lmar enhance`` verb)."""

from __future__ import annotations

from pathlib import Path

import torch

from lmar import checkpoint
from lmar.data.images import read_image, write_png
from lmar.errors import LmarError
from lmar.interpolation import check_method, parse_scale, target_size
from lmar.pipeline import deu
from lmar.runtime import precision_mode


def _resampler(name_or_ckpt: str, device: torch.device):
    path = Path(name_or_ckpt)
    if path.suffix == ".pt" or path.is_file():
        ckpt = checkpoint.load(path, "resampler")
        return checkpoint.build_resampler(ckpt["spec"], path, device, str(path))[0]
    return checkpoint.build_resampler({"type": name_or_ckpt}, None, device, "--resampler")[0]


def enhance_file(inp: Path, out: Path, backbone_ckpt: Path, resampler: str, scale, upsampler: str, device,
                 precision: str = "fp32") -> None:
    """``precision``: one of :data:`lmar.runtime.PRECISIONS` for the whole pipeline."""
    scale = parse_scale(scale)
    check_method(upsampler, False)
    x = read_image(inp)
    backbone, _ = checkpoint.load_backbone(backbone_ckpt, device)
    net = _resampler(resampler, device)
    size = target_size(x.shape[-2:], scale)
    if not net.is_identity and size == tuple(x.shape[-2:]):
        raise LmarError(f"scale {scale:g} leaves {inp} at its size {size[0]}x{size[1]}; use a larger scale")
    with torch.no_grad(), precision_mode(precision, device):
        y = deu(x[None].to(device), size, net, backbone, upsampler)
    write_png(y[0], out)
