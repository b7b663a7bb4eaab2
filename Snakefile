# lmar-bench: Downsample -> Enhance -> Upsample with model-aware resampling (LMAR, CVPR 2024).
# Thin on purpose: the DAG is in workflow/rules/, the science in lmar/ and baselines/.
from snakemake.utils import min_version, validate

from lmar.core.errors import LmarError
from lmar.run.config import apply_extends, check_config_files, schema_error

min_version("9.0")


# The embedded default, unless the command line names config files: those then replace it
# whole (Snakemake would otherwise merge them into it, mixing the two experiments' entries).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"



# each config file read once more, strictly: a key given twice (YAML keeps the last silently) or a
# syntax error is one line naming the file and line
try:
    check_config_files(workflow.overwrite_configfiles or ["config.yaml"])
except LmarError as exc:
    raise WorkflowError(f"config error: {exc}") from None

# `extends: other.yaml`: this config is that one with the keys given here changed (lmar.run.config).
if "extends" in config:
    try:
        _extended = apply_extends(config, workflow.overwrite_configfiles or ["config.yaml"])
    except LmarError as exc:
        raise WorkflowError(f"config error: {exc}") from None
    config.clear()
    config.update(_extended)
try:
    validate(config, "workflow/schemas/config.schema.yaml")
except WorkflowError as exc:  # one line naming the key; the schema's full report in the log
    raise WorkflowError(
        schema_error(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml", str(exc), "logs/config-error.log")
    ) from None


report: "workflow/report/workflow.rst"


# With --sdm apptainer every rule runs in this image (config key container, default lmar.sif: build it
# from workflow/envs/Apptainer.def); without that flag it is not used.
container: config["container"]



include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/zoo.smk"


rule all:
    default_target: True
    input:
        all_targets(),
