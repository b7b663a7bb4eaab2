"""One colour and one marker per resampler in every figure of a run: the scale figure (which leaves
the full-resolution row out of its lines) and the latency figure (which shows it as a point) give
each resampler the same colour and marker, those of :func:`lmar.report.plot_style.resampler_styles`."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from lmar.report.plot_style import resampler_styles
from lmar.report.plots import psnr_figure, quality_latency  # noqa: E402
from lmar.run.targets import FULL  # noqa: E402

# full_resolution first, as the store may list it: a figure that leaves it out would otherwise
# shift every other resampler's colour by one
NAMES = ["full_resolution", "bicubic", "lmar", "area"]


def results() -> pd.DataFrame:
    rows = []
    for i, name in enumerate(NAMES):
        targets = [(FULL, 1.0)] if name == "full_resolution" else [("x2", 2.0), ("x4", 4.0)]
        for target, scale in targets:
            for image in ("a", "b"):
                psnr = 30.0 + i - scale + (image == "b")
                rows.append({"dataset": "mini", "backbone": "unet", "resampler": name, "target": target,
                             "scale": scale, "target_h": int(360 / scale), "target_w": int(480 / scale),
                             "image": image, "seed": 0, "psnr": psnr, "ssim": psnr / 100, "time_s": psnr / 100,
                             "resampler_type": name, "resampler_weights": "none"})
    return pd.DataFrame(rows)


def legend_styles(grid) -> dict[str, tuple]:
    """{resampler: (colour, marker)} as the figure's legend draws them."""
    out = {}
    for handle, text in zip(grid.legend.legend_handles, grid.legend.texts):
        colour = handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()[0]
        colour = colour if isinstance(colour, str) else tuple(colour)
        marker = handle.get_marker() if hasattr(handle, "get_marker") else None
        out[text.get_text()] = (tuple(round(c, 4) for c in to_rgb(colour)), marker)
    return out


def test_each_resampler_keeps_its_colour_and_marker_in_every_figure():
    df = results()
    names, colours, markers = resampler_styles(df)
    assert names == NAMES and len(set(map(tuple, colours.values()))) == len(NAMES)
    assert len(set(markers.values())) == len(NAMES)
    scale, latency = legend_styles(psnr_figure(df)), legend_styles(quality_latency(df))
    plt.close("all")
    assert set(scale) == {"bicubic", "lmar", "area"} and set(latency) == set(NAMES)
    for name in NAMES:
        expected = tuple(round(c, 4) for c in to_rgb(colours[name]))
        assert latency[name][0] == expected, name
        if name in scale:
            assert scale[name][0] == expected, name
            assert scale[name][1] == latency[name][1] == markers[name], name


def test_the_default_methods_keep_their_colours_whatever_else_a_run_holds():
    """lanczos3 is tab10's blue and a circle in the default's report and in an ablation study's, where
    variants may come first in the store; the variants take colours no default method has (every
    colour distinct, past tab10's spare four and tab20's ten shades) and, up to six, other markers."""
    import seaborn as sns

    default = ["lanczos3", "bicubic", "area", "learned_resizer", "lmar", "full_resolution"]
    default_markers = ["o", "s", "^", "D", "v", "P"]  # what the default's figures have always drawn
    variants = [f"variant-{i}" for i in range(20)]
    tab10 = sns.color_palette("tab10", 10)
    for names in (default, variants[:5] + default[::-1], variants + default):
        got_names, colours, markers = resampler_styles(pd.DataFrame({"resampler": names}))
        assert got_names == names
        for name, colour, marker in zip(default, tab10, default_markers):
            assert (tuple(colours[name]), markers[name]) == (tuple(colour), marker), name
        assert len({tuple(round(c, 6) for c in colour) for colour in colours.values()}) == len(names)
        if len(names) <= 12:
            assert not {markers[n] for n in names if n not in default} & set(default_markers)
