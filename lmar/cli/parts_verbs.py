"""The verbs about parts: download one of the authors' released files (sha256 checked), and list the
registered backbones, resamplers and datasets."""

from __future__ import annotations

from pathlib import Path

from lmar.cli.verb_table import flag, verb


@verb("fetch-released", "download one of the authors' released files (sha256 checked)",
      flag("--name", choices=("backbone", "lmar"), required=True),
      flag("--out", type=Path, required=True))
def fetch_released(args):
    from lmar.parts.lmar.released import fetch

    fetch(args.name, args.out)


@verb("list", "the registered backbones, resamplers and datasets")
def list_parts(args):
    from lmar.run import listing

    print("\n".join(listing.list_parts()))
