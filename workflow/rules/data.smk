# Datasets: build (embedded) or fetch into resources/data/<dataset>/{train,test}/{input,gt}.


rule prepare_data:
    output:
        directory("resources/data/{dataset}"),
    params:
        spec=lambda w: spec_json("datasets", w.dataset),
    conda:
        ENV
    log:
        "logs/prepare_data/{dataset}.log",
    shell:
        "python -m lmar prepare-data --name {wildcards.dataset} --spec {params.spec:q} --out {output:q} > {log:q} 2>&1"
