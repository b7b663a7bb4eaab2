# The backbone zoo (lmar/zoo): `make zoo-fixed` trains every backbone of workflow/configs/zoo_fixed.yaml (the
# default experiment's backbones, with zoo: false so that nothing is copied from the zoo it
# regenerates), publishes each as an entry under results/zoo-fixed/zoo/ (checkpoint, curve, record with
# sha256 and match), then copies the entries into lmar/zoo; `make zoo` and `make zoo-narrow` do the same for
# the wide and narrow degradations. Each entry is named <dataset>[-<zoo_tag>]-<backbone>-seed<N> (config key
# zoo_tag: the default's are mini-fixed-*, the narrow degradation's mini-narrow-*, the wide one's untagged).

TAG = f"-{config['zoo_tag']}" if config["zoo_tag"] else ""


rule zoo_entry:
    input:
        ckpt=f"{RES}/models/{{dataset}}/{{backbone}}/seed{{seed}}/backbone.pt",
        curve=f"{RES}/models/{{dataset}}/{{backbone}}/seed{{seed}}/backbone.curve.csv",
    output:
        ckpt=f"{RES}/zoo/{{dataset}}/{{backbone}}/seed{{seed}}/{{dataset}}{TAG}-{{backbone}}-seed{{seed}}.pt",
        curve=f"{RES}/zoo/{{dataset}}/{{backbone}}/seed{{seed}}/{{dataset}}{TAG}-{{backbone}}-seed{{seed}}.curve.csv",
        record=f"{RES}/zoo/{{dataset}}/{{backbone}}/seed{{seed}}/{{dataset}}{TAG}-{{backbone}}-seed{{seed}}.json",
    params:
        dataset=lambda w: spec_json("datasets", w.dataset),
        spec=lambda w: spec_json("backbones", w.backbone),
        name=lambda w: f"{w.dataset}{TAG}",  # the entry's name before -<backbone>-seed<N>
    log:
        f"{LOGS}/zoo_entry/{{dataset}}/{{backbone}}/seed{{seed}}.log",
    shell:
        "python -m lmar zoo-entry --ckpt {input.ckpt:q} --dataset {params.name:q} --dataset-spec {params.dataset:q}"
        " --backbone {wildcards.backbone:q} --spec {params.spec:q} --seed {wildcards.seed:q}"
        " --out-dir $(dirname {output.record:q}) > {log:q} 2>&1"


rule zoo:
    input:
        [f"{RES}/zoo/{d}/{b}/seed{s}/{d}{TAG}-{b}-seed{s}.json" for d in config["datasets"] for b in config["backbones"]
         for s in seeds(config)],


localrules:
    zoo,
    zoo_entry,
