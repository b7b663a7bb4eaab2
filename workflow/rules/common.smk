# Targets, wildcard constraints and helpers shared by the rules.
import json
import os
from functools import cache
from pathlib import Path

from snakemake.logging import logger

from lmar.core.errors import LmarError
from lmar.core.fingerprint import fingerprint, part_modules
from lmar.core.metric_table import weights_needed
from lmar.core.registry import BACKBONES, DATASETS, RESAMPLERS
from lmar.data.identity import dataset_key
from lmar.run.config import (check_parts, grid, needs_download, released_path, resolve_bases, row_labels, seeds,
                             trainable, trusted_modules)

try:
    config.update(resolve_bases(config))  # ablations: `base: lmar` plus the keys that change
    TARGETS = check_parts(config)  # the evaluation's targets, parsed once for the plan
except LmarError as exc:
    raise WorkflowError(f"config error: {exc}") from None

EXP = config["experiment"]
# Every backbone is pretrained, every trainable resampler trained and every resampler evaluated
# once per seed (paths and rows carry it): `seeds: [0, 1, 2]`, or the single `seed`; a resampler's
# `only:` narrows its share of the grid (lmar.run.config.grid).
RES = f"results/{EXP}"
LOGS = f"logs/{EXP}"
BENCH = f"benchmarks/{EXP}"
EVALUATION = config["evaluation"]
# GPU reservation for cluster executors when the config asks for CUDA ("auto" reserves none).
GPU = 1 if config["device"].startswith("cuda") else 0
# Threads a training or evaluation job asks for; Snakemake lowers it to --cores when fewer.
JOB_THREADS = 8
# Jobs that need pretrained weights run with TORCH_HOME set here (pyiqa and torchvision read it):
# the path as configured, relative to the working directory by default, so that a copied or moved
# project keeps its params (and reruns nothing).
WEIGHTS_DIR = config["weights"]["dir"]
WEIGHTS_STATUS = f"{config['weights']['dir']}/seeded.json"
# Checkpoints are data: the specs they carry may name only registered parts or the modules this
# (trusted) config names, passed to the jobs that read checkpoints.
ALLOW_MODULES = [arg for module in trusted_modules(config) for arg in ("--allow-module", module)]
# Software for --sdm conda (cluster nodes without the project venv); locally the venv is used.
ENV = "../envs/lmar.yaml"


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_-]*",
    backbone="[A-Za-z0-9][A-Za-z0-9_-]*",
    resampler="[A-Za-z0-9][A-Za-z0-9_-]*",
    seed="[0-9]+",


def resampler_spec(name):
    if name in config["resamplers"]:
        return config["resamplers"][name]
    raise WorkflowError(f"no resampler {name!r} in config key 'resamplers'")


def spec_json(section, name):
    """One config entry as JSON for a `python -m lmar` call (params changes re-trigger the job;
    `only:` says where the entry runs, not what it is, and is left out)."""
    return json.dumps({k: v for k, v in config[section][name].items() if k != "only"}, sort_keys=True)


REGISTRIES = {"datasets": DATASETS, "backbones": BACKBONES, "resamplers": RESAMPLERS}


@cache  # asked once per job and resource; the config does not change while the DAG is built
def plan_shape(dataset):
    """(H, W, n_train, n_test) of a dataset, estimated before it exists (lmar.run.job_resources)."""
    return DATASETS.build(config["datasets"][dataset], f"config key datasets.{dataset}").plan_shape()


def sized(kind):
    """Memory and wall time of a job of `kind` (prepare | pretrain | train | evaluate), from the config and the
    attempt (lmar.run.job_resources): one callable per resource, as Snakemake's resources take them."""
    import torch

    from lmar.data.loader import resolve_workers
    from lmar.run import job_resources

    def estimate(w, attempt):
        shape = plan_shape(w.dataset)
        if kind == "prepare":
            return job_resources.prepare(shape, attempt)
        if kind == "pretrain":
            return job_resources.pretrain(config["backbones"][w.backbone].get("train") or {}, shape, GPU, attempt)
        spec = resampler_spec(w.resampler)
        if kind == "train":
            return job_resources.train_resampler(spec.get("train") or {}, shape, GPU, attempt)
        identity = RESAMPLERS.get(spec["type"], f"config key resamplers.{w.resampler}.type").is_identity
        n = 1 if identity else len(TARGETS)
        workers = resolve_workers(EVALUATION.get("workers", "auto"), torch.device("cuda" if GPU else "cpu"), JOB_THREADS)
        return job_resources.evaluate(n, shape, GPU, identity, attempt, workers)

    def resources(w, attempt):  # capped by max_runtime / max_mem_mb: a retry asks no more than the cap
        out, notes = job_resources.capped(kind, estimate(w, attempt), estimate(w, 1), config)
        for note in notes:
            if note not in CAP_NOTES:  # once per kind and resource, however many jobs
                CAP_NOTES.add(note)
                logger.warning(f"resources: {note}")
        return out

    return {key: (lambda w, attempt, key=key: resources(w, attempt)[key]) for key in ("mem_mb", "runtime")}


CAP_NOTES = set()


@cache  # the same harness and parts recur across seeds and targets: their files are read once
def code(harness, *parts):
    """The fingerprint of the code a job runs (lmar.core.fingerprint), among its params: the harness
    module and each part's module, named as (config section, entry name), with what they import."""
    modules = [harness]
    for section, name in parts:
        entry = config[section][name]
        cls = REGISTRIES[section].get(entry["type"], f"config key {section}.{name}.type")
        modules.extend(part_modules(cls, entry.get("params")))  # and the code its params name (a wrapped network)
    return fingerprint(modules)


@cache  # decided once per backbone, dataset and seed, and said once in the plan
def zoo_checkpoint(dataset, backbone, seed):
    """The zoo checkpoint (lmar/zoo) that stands in for this pretraining, or None: only where the config
    allows it (zoo: true), the backbone is not converted from released weights, and a zoo entry matches
    its dataset, params, recipe and seed exactly (lmar.run.zoo.find); the plan says which and why."""
    if not config["zoo"] or released_path(config, "backbones", backbone):
        return None
    from lmar.run.zoo import find

    try:
        path, why = find(config["datasets"][dataset], config["backbones"][backbone], int(seed),
                         f"config key backbones.{backbone}")
    except LmarError as exc:
        raise WorkflowError(f"zoo: {exc}") from None
    logger.info(f"zoo: backbones.{backbone} on {dataset}, seed {seed}: {why}")
    return os.path.relpath(path) if path else None


def zoo_input(w):
    path = zoo_checkpoint(w.dataset, w.backbone, w.seed)
    return [path] if path else []


def zoo_option(w):
    path = zoo_checkpoint(w.dataset, w.backbone, w.seed)
    return ["--from-zoo", path] if path else []


def released_input(section, name):
    """The authors' released file an entry with `weights:` is converted from (else nothing)."""
    path = released_path(config, section, name)
    return [path] if path else []


def released_option(section, name):
    path = released_path(config, section, name)
    return ["--released", path] if path else []


def weights_inputs(w=None):
    """The seed_weights step, when the config asks for pre-seeded weights."""
    return [WEIGHTS_STATUS] if config["weights"]["seed"] else []


def required_weights():
    """The weight files the required metrics need (lmar.core.metric_table): their absence stops the run."""
    return weights_needed(EVALUATION["required_metrics"])


def download_inputs(w):
    """A published dataset without local_path is fetched by download_dataset first."""
    spec = config["datasets"][w.dataset]
    return {"download": f"resources/downloads/{w.dataset}"} if needs_download(spec) else {}


# The per-file digests of linked datasets (lmar.data.identity), so that a rerun reads only changed files.
HASH_CACHE = "resources/hash-cache.json"


@cache  # hashed once per Snakemake call: every job of the dataset asks for its folder
def data_key(dataset):
    """The key of a dataset's prepared folder (lmar.data.identity.dataset_key): a hash of its entry as
    the jobs get it (spec_json) and, when linked from params.local_path, of what the linked files hold."""
    try:
        return dataset_key(json.loads(spec_json("datasets", dataset)), HASH_CACHE)
    except LmarError as exc:
        raise WorkflowError(f"config key datasets.{dataset}.params.local_path: {exc}") from None


def data_dir(dataset):
    """The prepared dataset: resources/data/<name>/<key>, one folder per params (and linked content), so
    that experiments with different params never share one and a changed linked folder is a new one."""
    return f"resources/data/{dataset}/{data_key(dataset)}"


def prepare_inputs(w):
    """download_inputs, for the key of the current params only (an older key's folder is not rebuilt
    from other params)."""
    if w.data_key != data_key(w.dataset):
        raise WorkflowError(f"resources/data/{w.dataset}/{w.data_key} is not the folder of config key "
                            f"datasets.{w.dataset} as it is now ({data_dir(w.dataset)})")
    return download_inputs(w)


def evaluate_inputs(w):
    inputs = {
        "data": data_dir(w.dataset),
        "backbone": f"{RES}/models/{w.dataset}/{w.backbone}/seed{w.seed}/backbone.pt",
        "weights": weights_inputs(),
    }
    if trainable(resampler_spec(w.resampler), f"resamplers.{w.resampler}.type"):
        inputs["resampler"] = f"{RES}/models/{w.dataset}/{w.backbone}/seed{w.seed}/resampler_{w.resampler}.pt"
    return inputs


def metrics_csvs():
    """One results file per evaluation of the grid (lmar.run.config.grid: every resampler on every
    dataset, backbone and seed, or those its `only:` names)."""
    return [f"{RES}/metrics/{d}/{b}/seed{s}/{r}.csv" for d, b, s, r in grid(config)]


def trainings():
    """(backbones pretrained, resamplers trained) of the grid: {(dataset, backbone, seed)} and
    {(dataset, backbone, seed, resampler)}."""
    cells = grid(config)
    pretrained = {(d, b, s) for d, b, s, _ in cells}
    trained = {(d, b, s, r) for d, b, s, r in cells if trainable(resampler_spec(r), f"resamplers.{r}.type")}
    return pretrained, trained


def in_config_order(pretrained):
    """The (dataset, backbone, seed) cells of ``pretrained`` in the order the config lists them: the
    tables' order, which the job costs and the training curves' panels follow too."""
    return [(d, b, s) for d in config["datasets"] for b in config["backbones"] for s in seeds(config)
            if (d, b, s) in pretrained]


def benchmark_files():
    """The benchmark file of every training and evaluation job of the grid (Snakemake writes them), in
    the order the jobs depend on each other (pretraining, training, evaluation), each step's jobs in
    config order."""
    pretrained, trained = trainings()
    cells, order = set(grid(config)), in_config_order(pretrained)
    files = [f"{BENCH}/pretrain_backbone/{d}/{b}/seed{s}.tsv" for d, b, s in order]
    files += [f"{BENCH}/train_resampler/{d}/{b}/seed{s}/{r}.tsv"
              for d, b, s in order for r in config["resamplers"] if (d, b, s, r) in trained]
    files += [f"{BENCH}/evaluate/{d}/{b}/seed{s}/{r}.tsv"
              for d, b, s in order for r in config["resamplers"] if (d, b, s, r) in cells]
    return files


def curve_files():
    """The training curve of every pretrained backbone and trained resampler of the grid, in the tables'
    order (the figure's panels follow it): per cell of :func:`in_config_order`, the backbone's curve,
    then each trained resampler's in config order."""
    pretrained, trained = trainings()
    files = []
    for d, b, s in in_config_order(pretrained):
        files.append(f"{RES}/models/{d}/{b}/seed{s}/backbone.curve.csv")
        files += [f"{RES}/models/{d}/{b}/seed{s}/resampler_{r}.curve.csv"
                  for r in config["resamplers"] if (d, b, s, r) in trained]
    return files


def figure_cell():
    """(dataset, backbone, seed, resamplers evaluated there, an LMAR entry or None) of the first cell
    of the grid: the qualitative figures show it."""
    cells = grid(config)
    d, b, s, _ = cells[0]
    names = [r for dd, bb, ss, r in cells if (dd, bb, ss) == (d, b, s)]
    lmars = [r for r in names if resampler_spec(r)["type"] == "lmar"]
    return d, b, s, names, (lmars[0] if lmars else None)


def figure_outputs():
    """The folder of the figure cell's enhanced outputs (one subfolder per resampler)."""
    d, b, s, _, _ = figure_cell()
    return f"{RES}/outputs/{d}/{b}/seed{s}"


def figures_inputs(w=None):
    d, b, s, names, lmar = figure_cell()
    out = {"data": data_dir(d), "outputs": [f"{figure_outputs()}/{r}" for r in names],
           "metrics": [f"{RES}/metrics/{d}/{b}/seed{s}/{r}.csv" for r in names]}  # which kept their initial weights
    if lmar:
        out["lmar"] = f"{RES}/models/{d}/{b}/seed{s}/resampler_{lmar}.pt"
    return out


def prefetch_targets():
    """What needs the internet: each published dataset's download, the authors' released files the config
    converts, and the pre-seeded weights; `snakemake --cores 1 prefetch` on a login node, then compute
    nodes need none (these rules are localrules)."""
    downloads = [f"resources/downloads/{name}" for name, spec in config["datasets"].items() if needs_download(spec)]
    released = {path for section in ("backbones", "resamplers") for name in config[section]
                for path in released_input(section, name)}
    return downloads + sorted(released) + weights_inputs()


def has_variants():
    """Whether two trainable resamplers share a part type (an ablation's `base: lmar` entries beside
    lmar): the run then draws the ablation figure (lmar.report.plot_ablation)."""
    kinds = [spec["type"] for name, spec in config["resamplers"].items()
             if trainable(spec, f"resamplers.{name}.type")]
    return len(kinds) != len(set(kinds))


def all_targets():
    return [f"{RES}/table.md", f"{RES}/left_out.md", f"{RES}/psnr_vs_scale.png", f"{RES}/training_curves.png", f"{RES}/crops.png",
            f"{RES}/config.resolved.yaml", f"{RES}/environment.txt", f"{RES}/job_costs.md"] + (
            [f"{RES}/ablation.png"] if has_variants() else [])
