# Training: backbones first (L1 to ground truth), then trainable resamplers against them, frozen.
# Kill-safe: a job saves its resume state every `resume:` steps or minutes (lmar.run.resume) and a rerun
# of a killed job resumes from it; each attempt appends to the job's log (">>"), so the killed
# attempt's log is kept above the resumed one's.
# Each training job also writes its curve beside the checkpoint (lmar.run.curves: per epoch the learning
# rate, wall time and loss parts); a part converted from released weights was not trained, and its
# curve is the header alone. A backbone that a zoo entry matches (lmar/zoo, config key zoo) is copied
# from it with its curve instead of trained.


rule pretrain_backbone:
    input:
        data=lambda w: data_dir(w.dataset),
        released=lambda w: released_input("backbones", w.backbone),
        zoo=zoo_input,
    output:
        ckpt=f"{RES}/models/{{dataset}}/{{backbone}}/seed{{seed}}/backbone.pt",
        curve=f"{RES}/models/{{dataset}}/{{backbone}}/seed{{seed}}/backbone.curve.csv",
    params:
        spec=lambda w: spec_json("backbones", w.backbone),
        released=lambda w: released_option("backbones", w.backbone),
        zoo=zoo_option,
        device=config["device"],
        code=lambda w: code("lmar.run.train", ("backbones", w.backbone)),
    threads: JOB_THREADS
    resources:
        gpu=GPU,
        save_every_steps=config["resume"]["every_steps"],
        save_every_minutes=config["resume"]["every_minutes"],
        **sized("pretrain"),
    conda:
        ENV
    log:
        f"{LOGS}/pretrain_backbone/{{dataset}}/{{backbone}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/pretrain_backbone/{{dataset}}/{{backbone}}/seed{{seed}}.tsv"
    shell:
        "python -m lmar pretrain-backbone --data {input.data:q} --spec {params.spec:q} --name {wildcards.backbone:q} {params.released:q} {params.zoo:q}"
        " --out {output.ckpt:q} --device {params.device:q} --seed {wildcards.seed:q} --threads {threads}"
        " --save-every-steps {resources.save_every_steps:q} --save-every-minutes {resources.save_every_minutes:q}"
        " >> {log:q} 2>&1"


rule train_resampler:
    input:
        data=lambda w: data_dir(w.dataset),
        backbone=f"{RES}/models/{{dataset}}/{{backbone}}/seed{{seed}}/backbone.pt",
        weights=weights_inputs(),
        released=lambda w: released_input("resamplers", w.resampler),
    output:
        ckpt=f"{RES}/models/{{dataset}}/{{backbone}}/seed{{seed}}/resampler_{{resampler}}.pt",
        curve=f"{RES}/models/{{dataset}}/{{backbone}}/seed{{seed}}/resampler_{{resampler}}.curve.csv",
    params:
        spec=lambda w: spec_json("resamplers", w.resampler),
        released=lambda w: released_option("resamplers", w.resampler),
        device=config["device"],
        torch_home=WEIGHTS_DIR,
        allow=ALLOW_MODULES,
        code=lambda w: code("lmar.run.train", ("resamplers", w.resampler), ("backbones", w.backbone)),
    threads: JOB_THREADS
    resources:
        gpu=GPU,
        save_every_steps=config["resume"]["every_steps"],
        save_every_minutes=config["resume"]["every_minutes"],
        **sized("train"),
    conda:
        ENV
    log:
        f"{LOGS}/train_resampler/{{dataset}}/{{backbone}}/seed{{seed}}/{{resampler}}.log",
    benchmark:
        f"{BENCH}/train_resampler/{{dataset}}/{{backbone}}/seed{{seed}}/{{resampler}}.tsv"
    shell:
        "TORCH_HOME={params.torch_home:q} python -m lmar train-resampler --data {input.data:q} --backbone {input.backbone:q} --spec {params.spec:q}"
        " --name {wildcards.resampler:q} --out {output.ckpt:q} --device {params.device:q} --seed {wildcards.seed:q}"
        " {params.released:q} {params.allow:q} --threads {threads}"
        " --save-every-steps {resources.save_every_steps:q} --save-every-minutes {resources.save_every_minutes:q}"
        " >> {log:q} 2>&1"
