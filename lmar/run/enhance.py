"""Images of any size through Downsample -> Enhance -> Upsample (the ``lmar enhance`` verb): one
file, or every image in a folder (:func:`enhance_folder`), the models loaded once.

A trained resampler is checked against the backbone it is given: its checkpoint records the sha256
and spec of the backbone it was trained against (:func:`lmar.run.train.trained_against`), and another
backbone is refused unless ``force`` (:func:`check_backbone`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Collection
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from lmar.core.atomic import check_writable, same_file
from lmar.core.errors import LmarError
from lmar.core.hashing import sha256_hex
from lmar.core.runtime import precision_mode, synchronize
from lmar.data.image_write import OUTPUT_SUFFIXES, check_output_suffix, output_depth, write_image
from lmar.data.images import EXTENSIONS, read_image_bits
from lmar.parts.resize import check_method
from lmar.run import checkpoint
from lmar.run.pipeline import check_target, deu
from lmar.run.targets import parse_scale, target_size

SKIPPED_SHOWN = 5  # non-image names listed in the folder mode's "skipped" line


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _spec_text(spec) -> str:
    """A backbone spec in a few words: its type and params as JSON."""
    if not isinstance(spec, dict):
        return "an unrecorded spec"
    return f"{spec.get('type')} {json.dumps(spec.get('params') or {}, sort_keys=True)}"


def check_backbone(resampler_path: Path, meta, backbone_path: Path, backbone_spec, force: bool = False) -> None:
    """Refuse a resampler checkpoint trained against another backbone than ``backbone_path`` (the
    sha256 its meta records differs from the file's), naming both files and the recorded spec;
    with ``force``, warn once instead. A checkpoint without the record (older, or converted from
    released weights) gets a one-line warning: it cannot be checked."""
    meta = meta if isinstance(meta, dict) else {}
    recorded = meta.get("backbone_sha256")
    if not isinstance(recorded, str):
        released = f" (it holds {meta['weights']})" if isinstance(meta.get("weights"), str) else ""
        _warn(f"resampler checkpoint {resampler_path}{released} does not record the backbone it was trained "
              f"against; cannot check that it fits --backbone {backbone_path}")
        return
    actual = sha256_hex(backbone_path)
    if actual == recorded:
        return
    what = (f"resampler checkpoint {resampler_path} was trained against another backbone "
            f"({_spec_text(meta.get('backbone_spec'))}, file {meta.get('backbone_file', '?')}, sha256 {recorded[:12]}) "
            f"than --backbone {backbone_path} ({_spec_text(backbone_spec)}, sha256 {actual[:12]})")
    if not force:
        raise LmarError(f"{what}; give the backbone it was trained against, or --force to run it anyway")
    _warn(f"{what}; running anyway (--force): its outputs are not what it was trained to give")


@dataclass
class Models:
    """What every image of a run shares: the backbone, the resampler and how to run them."""

    backbone: torch.nn.Module
    net: torch.nn.Module
    resampler: str
    scale: float
    upsampler: str
    device: torch.device
    precision: str
    quality: int


def _resampler(name_or_ckpt: str, device: torch.device, allow: Collection[str]):
    """A registered untrained resampler by name (and no meta), or a trained one from its checkpoint
    (whose spec may name only registered parts or the ``allow`` modules) and its checkpoint's meta."""
    path = Path(name_or_ckpt)
    if path.is_file():
        ckpt = checkpoint.load(path, "resampler")
        where = f"resampler checkpoint {path}: spec"
        return checkpoint.build_resampler(ckpt.get("spec"), path, device, where, allow)[0], ckpt.get("meta")
    if path.suffix == ".pt" or os.sep in name_or_ckpt:
        raise LmarError(f"resampler checkpoint not found: {path} (--resampler). Give an existing .pt file or a "
                        "registered resampler name (lmar list)")
    return checkpoint.build_resampler({"type": name_or_ckpt}, None, device, "--resampler", allow)[0], None


def load_models(backbone_ckpt: Path, resampler: str, scale, upsampler: str, device, precision: str = "fp32",
                quality: int = 95, allow: Collection[str] = (), force: bool = False) -> Models:
    """The backbone and the resampler (a trained one checked against the backbone: :func:`check_backbone`)."""
    scale = parse_scale(scale)
    check_method(upsampler, False)
    backbone, backbone_content = checkpoint.load_backbone(backbone_ckpt, device, allow)
    net, meta = _resampler(resampler, device, allow)
    if Path(resampler).is_file():
        check_backbone(Path(resampler), meta, Path(backbone_ckpt), backbone_content.get("spec"), force)
    return Models(backbone, net, resampler, scale, upsampler, device, precision, quality)


@contextmanager
def _stage_bar(desc: str, total: int):
    """A progress bar over the stages of one image; yields ``stage(name)``: called as each starts."""
    bar = tqdm(total=total, desc=desc, unit="stage", bar_format="{desc}: {n}/{total} stages [{elapsed}{postfix}]")
    names = []

    def stage(name: str) -> None:
        if names:
            bar.update(1)
        names.append(name)
        bar.set_postfix_str(name)

    try:
        yield stage
        bar.update(1)
        bar.set_postfix_str("done")
    finally:
        bar.close()


def enhance_one(models: Models, inp: Path, out: Path, stage: Callable[[str], None] = lambda name: None) -> str:
    """Enhance ``inp`` into ``out`` with loaded ``models``, in the format ``out``'s suffix names (16
    bits per channel for a 16-bit input where the format holds them); returns a one-line summary.
    ``stage(name)`` is called as each stage starts: read, resample, enhance, upsample, write."""
    m = models
    stage("read")
    x, bits = read_image_bits(inp)
    bits_out = output_depth(out, bits)
    H, W = x.shape[-2:]
    size = (H, W) if m.net.is_identity else target_size((H, W), m.scale)
    if not m.net.is_identity and size == (H, W):
        raise LmarError(f"scale {m.scale:g} leaves {inp} at its size {H}x{W}; use a larger scale")
    check_target(size, (H, W), m.backbone, f"scale {m.scale:g} for {inp}")

    @contextmanager
    def timed_stage(name):
        stage(name)
        yield
        synchronize(m.device)  # the bar moves on when the stage's work is done, not when it is queued

    t0 = time.perf_counter()
    with torch.no_grad(), precision_mode(m.precision, m.device):
        y = deu(x[None].to(m.device), size, m.net, m.backbone, m.upsampler, timed_stage)
    synchronize(m.device)
    seconds = time.perf_counter() - t0
    stage("write")
    write_image(y[0], out, bits_out, m.quality)
    how = "no resampling" if m.net.is_identity else f"via {size[0]}x{size[1]} (x{m.scale:g}, {m.resampler})"
    return f"{inp} {H}x{W} -> {out} {H}x{W} ({bits_out}-bit), {how}, {seconds:.2f} s on {m.device}"


def _check_paths(inp: Path, out: Path) -> None:
    """Refuse an output that would overwrite the input or that is a folder, before any work."""
    if out.is_dir():
        raise LmarError(f"output {out} is a folder; give a file name such as {out / (inp.stem + '_enhanced.png')}")
    if same_file(out, inp):
        raise LmarError(f"output {out} is the input {inp}: choose another output path (the input is never overwritten)")


def enhance_file(inp: Path, out: Path, backbone_ckpt: Path, resampler: str, scale, upsampler: str, device,
                 precision: str = "fp32", quality: int = 95, allow: Collection[str] = (), force: bool = False) -> str:
    """Enhance ``inp`` into ``out`` (:func:`enhance_one`), a progress bar over its stages on stderr;
    returns a one-line summary. ``precision``: one of :data:`lmar.core.runtime.PRECISIONS`; ``allow``:
    modules checkpoint specs may name; ``force``: run a resampler trained against another backbone."""
    inp, out = Path(inp), Path(out)
    parse_scale(scale)
    check_method(upsampler, False)
    _check_paths(inp, out)
    check_output_suffix(out)  # before any work: an unknown suffix is refused at once
    check_writable(out)  # and an output that could not be written (read-only, no permission)
    models = load_models(backbone_ckpt, resampler, scale, upsampler, device, precision, quality, allow, force)
    stages = 3 if models.net.is_identity else 5  # read, [resample,] enhance, [upsample,] write
    with _stage_bar(inp.name, stages) as stage:
        return enhance_one(models, inp, out, stage)


def list_images(folder: Path) -> tuple[list[Path], list[str]]:
    """The images in ``folder`` (the suffixes :mod:`lmar.data.images` reads, any case), sorted by
    name, and the names of everything else in it (sub-folders included), sorted."""
    images, others = [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        is_image = entry.suffix.lower() in EXTENSIONS and entry.is_file()
        (images if is_image else others).append(entry if is_image else entry.name)
    return images, others


def _folder_outputs(inp: Path, out: Path, images: list[Path], suffix: str | None) -> list[Path]:
    """Each image's output ``out/<name>`` (its suffix replaced by ``suffix`` if given); refuses an
    output folder that is the input folder and two images that would share an output."""
    if out.exists() and not out.is_dir():
        raise LmarError(f"output {out} is a file, but the input {inp} is a folder: give an output folder")
    if same_file(out, inp):
        raise LmarError(f"output folder {out} is the input folder {inp}: choose another (the inputs are never "
                        "overwritten)")
    outputs = [out / (p.name if suffix is None else p.stem + suffix) for p in images]
    seen: dict[Path, Path] = {}
    for image, target in zip(images, outputs):
        if target in seen:
            raise LmarError(f"{seen[target].name} and {image.name} in {inp} would both be written to {target}; "
                            "rename one, or leave out --suffix")
        seen[target] = image
    return outputs


def enhance_folder(inp: Path, out: Path, backbone_ckpt: Path, resampler: str, scale, upsampler: str, device,
                   precision: str = "fp32", quality: int = 95, allow: Collection[str] = (), force: bool = False,
                   suffix: str | None = None, say: Callable[[str], None] | None = None) -> int:
    """Enhance every image in the folder ``inp`` into ``out/<same name>`` (``suffix``, e.g. ".png",
    replaces each name's suffix; ``out`` is created), the models loaded once, a progress bar over
    the images on stderr. Other files are skipped and counted in one line; an image that fails
    (unreadable, too small for the backbone) is reported on stderr by name (``error: ...``) and the
    rest are still enhanced. ``say`` gets each image's summary line, the skipped line and a final
    summary line (default: stdout, around the bar). Returns the number of images that failed."""
    inp, out = Path(inp), Path(out)
    say = say or (lambda line: tqdm.write(line, file=sys.stdout))
    if suffix is not None:
        suffix = suffix if suffix.startswith(".") else f".{suffix}"
        if suffix.lower() not in OUTPUT_SUFFIXES:
            raise LmarError(f"--suffix {suffix!r} is not a format lmar writes; use one of {', '.join(OUTPUT_SUFFIXES)}")
    parse_scale(scale)
    check_method(upsampler, False)
    images, others = list_images(inp)
    outputs = _folder_outputs(inp, out, images, suffix)
    if not images:
        raise LmarError(f"no images in folder {inp} (suffixes {', '.join(EXTENSIONS)}); {len(others)} other "
                        "file(s) in it")
    check_writable(out, folder=True)  # where the output folder goes can be written, before the models load
    if others:
        shown = ", ".join(others[:SKIPPED_SHOWN]) + (", ..." if len(others) > SKIPPED_SHOWN else "")
        say(f"skipped {len(others)} file(s) in {inp} that are not images ({', '.join(EXTENSIONS)}): {shown}")
    models = load_models(backbone_ckpt, resampler, scale, upsampler, device, precision, quality, allow, force)
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    bar = tqdm(list(zip(images, outputs)), desc=f"enhance {inp.name}", unit="image")
    for image, target in bar:
        try:
            line = enhance_one(models, image, target, lambda name, at=image.name: bar.set_postfix_str(f"{at}: {name}"))
        except LmarError as exc:
            failed.append(image.name)
            tqdm.write(f"error: {image.name} failed: {exc}", file=sys.stderr)
            continue
        say(line)
    bar.close()
    done = len(images) - len(failed)
    tail = f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""
    say(f"enhanced {done} of {len(images)} image(s) from {inp} into {out}{tail}")
    return len(failed)
