# Datasets: fetch (published ones), then build or validate into resources/data/<dataset>/<key> (the
# key hashes the dataset's params and, for data linked from params.local_path, its files: data_dir);
# pretrained weights pre-seeded for compute nodes without internet. Fetching needs the internet, so it
# runs where Snakemake runs (localrules; `prefetch` alone on a login node); checking the fetched pairs
# (prepare_data: hours for 8,099 4K pairs) is a job like any other.


localrules:
    prefetch,
    download_dataset,
    fetch_released,
    seed_weights,


rule prefetch:
    input:
        prefetch_targets(),


rule download_dataset:
    output:
        directory("resources/downloads/{dataset}"),
    params:
        spec=lambda w: spec_json("datasets", w.dataset),
    conda:
        ENV
    log:
        "logs/download_dataset/{dataset}.log",
    shell:
        "python -m lmar fetch-data --name {wildcards.dataset:q} --spec {params.spec:q} --out {output:q}"
        " --archives resources/archives/{wildcards.dataset:q} --lock resources/checksums.json > {log:q} 2>&1"


rule prepare_data:
    input:
        unpack(prepare_inputs),
    output:
        directory("resources/data/{dataset}/{data_key}"),
    wildcard_constraints:
        data_key="[0-9a-f]{12}",
    params:
        spec=lambda w: spec_json("datasets", w.dataset),
        download=lambda w, input: ["--download-dir", input.download] if "download" in input.keys() else [],
        code=lambda w: code("lmar.data.base", ("datasets", w.dataset)),
    resources:
        **sized("prepare"),
    conda:
        ENV
    log:
        "logs/prepare_data/{dataset}/{data_key}.log",
    shell:
        "python -m lmar prepare-data --name {wildcards.dataset:q} --spec {params.spec:q} {params.download:q}"
        " --out {output:q} > {log:q} 2>&1"


rule fetch_released:
    output:
        f"{config['weights']['authors_dir']}/{{file}}",
    wildcard_constraints:
        file="base_model.bin|LMAR_model.bin",
    params:
        name=lambda w: {"base_model.bin": "backbone", "LMAR_model.bin": "lmar"}[w.file],
    conda:
        ENV
    log:
        "logs/fetch_released/{file}.log",
    shell:
        "python -m lmar fetch-released --name {params.name:q} --out {output:q} > {log:q} 2>&1"


rule seed_weights:
    output:
        WEIGHTS_STATUS,
    params:
        names=config["weights"]["seed"],
        required=required_weights(),
        torch_home=lambda w, output: str(Path(output[0]).parent),
    conda:
        ENV
    log:
        "logs/seed_weights.log",
    shell:
        "python -m lmar seed-weights --dir {params.torch_home:q} --names {params.names:q} --required {params.required:q}"
        " --status {output:q} > {log:q} 2>&1"
