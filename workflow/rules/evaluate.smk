# Evaluation: Downsample -> Enhance -> Upsample on the test split, every scale, per-image metrics.


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        csv=f"{RES}/metrics/{{dataset}}/{{backbone}}/seed{{seed}}/{{resampler}}.csv",
        images=directory(f"{RES}/outputs/{{dataset}}/{{backbone}}/seed{{seed}}/{{resampler}}"),
    params:
        spec=lambda w: json.dumps(resampler_spec(w.resampler), sort_keys=True),
        ckpt=lambda w, input: ["--resampler-ckpt", input.resampler] if "resampler" in input.keys() else [],
        evaluation=json.dumps(EVALUATION, sort_keys=True),
        dataset=lambda w: spec_json("datasets", w.dataset),
        labels=lambda w: json.dumps(row_labels(config, w.dataset, w.backbone, w.resampler, w.seed)),
        device=config["device"],
        torch_home=WEIGHTS_DIR,
        allow=ALLOW_MODULES,
        code=lambda w: code("lmar.run.evaluate", ("resamplers", w.resampler), ("backbones", w.backbone)),
    threads: JOB_THREADS
    resources:
        gpu=GPU,
        **sized("evaluate"),
    conda:
        ENV
    log:
        f"{LOGS}/evaluate/{{dataset}}/{{backbone}}/seed{{seed}}/{{resampler}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{dataset}}/{{backbone}}/seed{{seed}}/{{resampler}}.tsv"
    shell:
        "TORCH_HOME={params.torch_home:q} python -m lmar evaluate --data {input.data:q} --backbone {input.backbone:q}"
        " --resampler-spec {params.spec:q} {params.ckpt:q} --evaluation {params.evaluation:q}"
        " --labels {params.labels:q} --dataset-spec {params.dataset:q} --out {output.csv:q} --images {output.images:q}"
        " --device {params.device:q} --seed {wildcards.seed:q} {params.allow:q} --threads {threads} > {log:q} 2>&1"
