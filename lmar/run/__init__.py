"""Run: what a workflow job does with the parts. The pipeline (Downsample -> Enhance -> Upsample),
training and resuming, evaluation and its metrics, enhancing images, targets, checkpoints, the zoo,
and the planning helpers the Snakefile uses (config checks, job resources)."""
