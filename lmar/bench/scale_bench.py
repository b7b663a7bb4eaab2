"""The evaluation at scale: a synthetic test set through the whole evaluation, timed part by part,
and the wall time and bytes of a paper protocol extrapolated from it.

Each (backbone, resampler) job of the paper's grid runs :func:`lmar.run.evaluate.evaluate` in a fresh
process (so that its peak memory is its own) on ``pairs`` generated test pairs of ``hw`` at the
paper's target sizes (as fractions of 3840x2160, so a smaller ``hw`` keeps their shapes), with
untrained weights (speed does not depend on them). The job's breakdown (:mod:`lmar.run.eval_breakdown`)
gives images per second and each part's share of the wall time.

Extrapolation to a protocol of N test pairs of 3840x2160: each job costs its setup, its start-up
(a Python process importing the harness, measured once), its wait for the first decoded pair (the
workers' start-up), its FLOP counting (once per target, scaled by pixels) and N times its seconds per
pair (the loop without those two) (scaled by pixels when ``hw`` is smaller than 4K: a
linear model, labelled as such). Bytes: the sample of outputs (scaled by pixels) and the CSV (scaled
by rows). LPIPS, when its weights are absent here, is timed separately with random weights (the
network is the same size) and added per test pair as the evaluation runs it: the first output with
the ground truth's features, each further output with its own only.
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import yaml

from lmar.core.registry import BACKBONES, DATASETS, RESAMPLERS
from lmar.data.image_write import write_image
from lmar.run import checkpoint

UHD = (2160, 3840)
PAPER_CONFIG = Path(__file__).resolve().parents[2] / "workflow" / "configs" / "paper.yaml"
PROTOCOLS = ("uhd_lol4k", "uhd_ll")  # datasets whose test split is extrapolated to
SHARES = ("first_wait_s", "wait_s", "transfer_s", "resample_s", "enhance_s", "upsample_s", "score_s", "write_s", "count_flops_s")


def paper_grid(path: Path = PAPER_CONFIG) -> dict:
    """The paper config's backbones, resamplers (``train`` blocks dropped) and evaluation."""
    config = yaml.safe_load(Path(path).read_text())
    strip = lambda entries: {k: {"type": v["type"], "params": v.get("params") or {}} for k, v in entries.items()}  # noqa: E731
    return {"backbones": strip(config["backbones"]), "resamplers": strip(config["resamplers"]),
            "evaluation": config["evaluation"]}


def as_fractions(evaluation: dict) -> dict:
    """``evaluation`` with each fixed 4K size made a fraction of each side, so any input size keeps its shape."""
    sizes = [{"name": s["name"], "fraction": [s["size"][0] / UHD[0], s["size"][1] / UHD[1]]} if "size" in s else s
             for s in evaluation.get("sizes", [])]
    return {**evaluation, "sizes": sizes}


def _pair(args) -> None:
    root, i, hw, seed = args
    rng = np.random.default_rng(seed + i)
    h, w = hw
    import cv2

    coarse = rng.uniform(0, 255, (max(2, h // 64), max(2, w // 64), 3)).astype(np.float32)
    gt = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) + rng.normal(0, 6, (h, w, 3))
    gt = np.clip(gt, 0, 255)
    low = np.clip(gt * 0.2 + rng.normal(0, 3, (h, w, 3)), 0, 255)  # dark and noisy, like a low-light input
    write_image(gt.round().astype(np.uint8), root / "test" / "gt" / f"{i:04d}.png")
    write_image(low.round().astype(np.uint8), root / "test" / "input" / f"{i:04d}.png")


def write_synthetic(root: Path, n: int, hw, seed: int = 0, processes: int | None = None) -> None:
    """``n`` test pairs of ``hw`` under ``root/test/{input,gt}``: smooth colour fields with noise (PNG)."""
    for sub in ("input", "gt"):
        (root / "test" / sub).mkdir(parents=True, exist_ok=True)
    jobs = [(root, i, tuple(hw), seed) for i in range(n)]
    with mp.get_context("spawn").Pool(processes or min(n, mp.cpu_count())) as pool:
        pool.map(_pair, jobs)


def _job(args) -> dict:
    data, bb_ckpt, spec, r_ckpt, evaluation, out, device, threads = args
    from lmar.core import runtime
    from lmar.run.evaluate import evaluate

    runtime.setup(0, threads)
    parts: dict = {}
    evaluate(data, bb_ckpt, spec, r_ckpt, evaluation, out / "m.csv", out / "img", torch.device(device),
             {"dataset": "synthetic", "backbone": "b", "resampler": spec["type"], "config_hash": "bench"}, (),
             breakdown=parts)
    parts["images_bytes"] = sum(f.stat().st_size for f in (out / "img").rglob("*") if f.is_file())
    parts["csv_bytes"] = (out / "m.csv").stat().st_size
    return parts


def startup_seconds() -> float:
    """A fresh Python process importing the evaluation and pyiqa: what each job pays before it starts."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import lmar.run.evaluate, lmar.run.metrics, pyiqa"], check=True)
    return time.perf_counter() - t0


def lpips_seconds(hw, device: torch.device, repeats: int = 3) -> dict[str, float]:
    """Seconds to score one image of ``hw`` with pyiqa's LPIPS, random weights (nothing is loaded), as
    the evaluation runs it (:class:`lmar.run.metrics.KeptReference`): ``first``, the first output of a test
    pair (the ground truth's features and the output's), ``more``, each further output (its own)."""
    import pyiqa

    from lmar.bench.benchmarks import _timed
    from lmar.run.metrics import LPIPS_NO_LOADING, _pyiqa_lpips_without_loading, keep_lpips_reference

    with _pyiqa_lpips_without_loading():
        metric = pyiqa.create_metric("lpips", device=device, as_loss=False, **LPIPS_NO_LOADING).eval()
    kept = keep_lpips_reference(metric)
    out, gt = torch.rand(2, 1, 3, *hw, device=device)

    def first():
        kept.forget()
        return metric(out, gt)

    # median seconds, without gradients
    return {"first": _timed(first, device, repeats, warmup=1)["seconds"],
            "more": _timed(lambda: metric(out, gt), device, repeats, warmup=1)["seconds"]}


def per_pair_seconds(job: dict) -> float:
    """A job's seconds per pair: its loop without the first pair's wait and the FLOP counting (once a job)."""
    return (job["loop_s"] - job["count_flops_s"] - job["first_wait_s"]) / job["pairs"]


def extrapolate(jobs: list[dict], hw, n_test: int, startup_s: float, lpips_s: dict | None = None) -> dict:
    """Wall hours and GB written of one protocol run of ``jobs`` (their breakdowns, measured at ``hw``
    on ``pairs`` each) on ``n_test`` 4K test pairs (module docstring); ``lpips_s``: :func:`lpips_seconds`
    at ``hw``, added per pair (``first`` + ``more`` for each further target), when the jobs did not run it."""
    ratio = UHD[0] * UHD[1] / (hw[0] * hw[1])
    seconds = nbytes = 0.0
    for j in jobs:
        per_pair = per_pair_seconds(j)
        if lpips_s:
            per_pair += lpips_s["first"] + (j["targets"] - 1) * lpips_s["more"]
        seconds += startup_s + j["setup_s"] + j["first_wait_s"] + j["count_flops_s"] * ratio
        seconds += n_test * per_pair * ratio
        nbytes += j["images_bytes"] * ratio + j["csv_bytes"] * n_test / j["pairs"]
    return {"pairs": n_test, "jobs": len(jobs), "hours": seconds / 3600, "gb_written": nbytes / 1e9,
            "pixel_ratio": ratio}


def run(out_dir: Path, device: str = "cpu", hw=UHD, pairs: int = 32, threads: int | None = None,
        workers="auto", save_outputs: int | str = 3, grid: dict | None = None, progress=print,
        precision: str | None = None, partial=None) -> dict:
    """The benchmark (module docstring): a dict with a row per job, the extrapolations and the settings.
    ``precision``: the evaluation's (default the paper config's); ``partial``: called with the jobs
    measured so far after each one (so that a run cut short keeps them)."""
    from lmar.bench.benchmarks import device_label
    from lmar.parts.weights import missing_reason

    grid = grid or paper_grid()
    dev = torch.device(device)
    evaluation = {**as_fractions(grid["evaluation"]), "save_outputs": save_outputs, "workers": workers}
    if precision:
        evaluation["precision"] = precision
    rows = []
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        write_synthetic(tmp / "data", pairs, hw)
        progress(f"{pairs} synthetic pairs of {hw[0]}x{hw[1]} written in {time.perf_counter() - t0:.1f} s")
        for bname, bspec in grid["backbones"].items():
            torch.manual_seed(0)  # the same untrained weights each run: the saved sample's bytes repeat too
            bb = tmp / f"{bname}.pt"
            checkpoint.save(bb, "backbone", bspec, BACKBONES.build(bspec), {"weights": "untrained (benchmark)"})
            for rname, rspec in grid["resamplers"].items():
                net, r_ckpt = RESAMPLERS.build(rspec), None
                if net.trainable:
                    r_ckpt = tmp / f"{rname}.pt"
                    checkpoint.save(r_ckpt, "resampler", rspec, net, {"weights": "untrained (benchmark)"})
                out = tmp / "runs" / bname / rname
                args = (tmp / "data", bb, rspec, r_ckpt, evaluation, out, device, threads)
                # a fresh process (not a daemon: the evaluation starts its own decoding workers)
                with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
                    parts = pool.submit(_job, args).result()
                parts.update(backbone=bname, resampler=rname,
                             images_per_s=parts["pairs"] * parts["targets"] / parts["loop_s"])
                rows.append(parts)
                if partial is not None:
                    partial({"device": device_label(dev), "hw": list(hw), "pairs": pairs, "complete": False, "jobs": rows})
                progress(f"{bname} / {rname}: {parts['images_per_s']:.2f} images/s, {parts['loop_s']:.1f} s")
    wants_lpips = "lpips" in grid["evaluation"].get("metrics", [])
    in_jobs = wants_lpips and not missing_reason(("alexnet", "lpips_alex"))  # else timed apart, if asked for
    lpips_s = lpips_seconds(hw, dev) if wants_lpips and not in_jobs else None
    startup = startup_seconds()
    protocols = {name: extrapolate(rows, hw, DATASETS.build({"type": name}).plan_shape()[3], startup, lpips_s)
                 for name in PROTOCOLS}
    return {"device": device_label(dev), "hw": list(hw), "pairs": pairs, "complete": True,
            "precision": evaluation.get("precision", "fp32"), "workers": rows[0]["workers"],
            "save_outputs": save_outputs, "evaluation": evaluation, "startup_s": startup,
            "lpips_random_weights_s": lpips_s, "lpips_timed_in_jobs": in_jobs, "jobs": rows,
            "protocols": protocols}


def markdown(result: dict) -> str:
    """The result as a table a reader can check: a row per job, then the extrapolated protocols."""
    h, w = result["hw"]
    lines = [f"# Evaluation at scale: {result['pairs']} synthetic pairs of {h}x{w} on {result['device']}",
             "",
             f"Paper grid, {result['jobs'][0]['targets']} target sizes, {result['precision']}; "
             f"{result['workers']} decoding worker(s); "
             f"outputs saved: {result['save_outputs']}. Shares are of each job's loop time; first pair = waiting "
             "for the decoding workers to start and the first pair; wait = waiting for later pairs; decode CPU = the workers' own seconds per pair; s/pair leaves out the first pair's wait and the FLOP "
             "counting (once a job).",
             "",
             "| backbone | resampler | images/s | s/pair | first pair | wait | transfer | resample | enhance | upsample | metrics "
             "| write | flops | other | decode CPU s/pair | peak host MiB | peak workers MiB | peak device MiB |",
             "|---|---|" + "---|" * 16]
    for j in result["jobs"]:
        loop = j["loop_s"]
        per_pair = per_pair_seconds(j)  # as extrapolated
        shares = [100 * j[k] / loop for k in SHARES]
        other = 100 - sum(shares)
        cells = [f"{s:.0f}%" for s in shares] + [f"{other:.0f}%"]
        lines.append(f"| {j['backbone']} | {j['resampler']} | {j['images_per_s']:.2f} | {per_pair:.2f} | "
                     + " | ".join(cells) + f" | {j['decode_s'] / j['pairs']:.2f} | {j['peak_host_mib']:.0f} | "
                     f"{j['peak_workers_host_mib']:.0f} | {j['peak_device_mib']:.0f} |")
    scaled = "" if result["hw"] == list(UHD) else f", scaled from {h}x{w} by pixels (a linear model)"
    timed = result["lpips_random_weights_s"]
    lpips = ("LPIPS timed in the jobs" if result["lpips_timed_in_jobs"] else "no LPIPS" if not timed else
             f"LPIPS added at {timed['first']:.3f} s for a pair's first output and {timed['more']:.3f} s for each "
             "further one (random weights: its weights are absent; the ground truth's features are computed once a pair)")
    lines += ["", f"Extrapolated to 3840x2160{scaled}; {lpips}; {result['startup_s']:.1f} s start-up a job:", ""]
    for name, p in result["protocols"].items():
        lines.append(f"- **{name}** ({p['pairs']} test pairs, {p['jobs']} jobs): {p['hours']:.2f} h, "
                     f"{p['gb_written']:.2f} GB written")
    return "\n".join(lines) + "\n"
