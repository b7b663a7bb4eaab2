"""The verb for one's own images: ``enhance`` runs an image, or a folder of them, through
Downsample -> Enhance -> Upsample with a trained backbone and any resampler."""

from __future__ import annotations

from pathlib import Path

from lmar.cli.verb_table import ALLOW, DEVICE, PRECISIONS, device_of, flag, verb
from lmar.core.errors import LmarError


@verb("enhance", "run one image of any size, or every image in a folder, through Downsample -> Enhance -> Upsample",
      flag("input", type=Path, help="an image, or a folder of images (its other files are skipped)"),
      flag("output", type=Path, help="the output file: .png, .jpg/.jpeg, .tif/.tiff or .bmp (16-bit PNG or TIFF for "
                                     "a 16-bit input); never the input itself. For an input folder: the output folder "
                                     "(created), each image written under its own name"),
      flag("--suffix", default=None, metavar=".png",
           help="folder mode: write every output in this format (default: each input's own suffix)"),
      flag("--force", action="store_true",
           help="run a resampler checkpoint trained against another backbone than --backbone (warned)"),
      flag("--backbone", type=Path, required=True, help="backbone checkpoint"),
      flag("--resampler", default="bicubic", help="a registered untrained resampler, or a resampler checkpoint"),
      flag("--scale", required=True, help="downscaling factor >= 1 (1 with full_resolution)"),
      flag("--upsampler", default="bicubic"),
      flag("--precision", choices=PRECISIONS, default="fp32",
           help="fp32 (default), or tf32 / bf16 / fp16 autocast (on CUDA LMAR runs its fused kernel in tf32 and "
                "bf16, its PyTorch path in fp16)"),
      flag("--quality", type=int, default=95, choices=range(1, 101), metavar="1-100", help="JPEG quality (default 95)"),
      ALLOW, DEVICE)
def enhance(args):
    from lmar.run.enhance import enhance_file, enhance_folder

    how = (args.backbone, args.resampler, args.scale, args.upsampler, device_of(args), args.precision, args.quality,
           args.allow_module, args.force)
    if args.input.is_dir():
        return 1 if enhance_folder(args.input, args.output, *how, suffix=args.suffix) else 0
    if args.suffix is not None:
        raise LmarError(f"--suffix is for an input folder; {args.input} is not one: the output's own suffix "
                        "names its format")
    print(enhance_file(args.input, args.output, *how))
