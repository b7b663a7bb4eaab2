# Report: the results store (one file of every per-image row), and the tables and plots made from it alone.


rule gather:
    input:
        metrics_csvs(),
    output:
        store=f"{RES}/results.parquet",
        csv=f"{RES}/results.csv",
    conda:
        ENV
    log:
        f"{LOGS}/gather.log",
    shell:
        "python -m lmar gather {input:q} --out {output.store:q} --out-csv {output.csv:q} > {log:q} 2>&1"


rule table:
    input:
        f"{RES}/results.parquet",
    output:
        md=report(f"{RES}/table.md", category="Tables"),
        tex=f"{RES}/table.tex",
        stats=f"{RES}/table_stats.csv",
    params:
        gain=config["report"]["gain"],
        title=f"lmar-bench: {EXP}",
    conda:
        ENV
    log:
        f"{LOGS}/table.log",
    shell:
        "python -m lmar table {input:q} --out-md {output.md:q} --out-tex {output.tex:q} --out-stats {output.stats:q}"
        " --gain {params.gain:q} --title {params.title:q} > {log:q} 2>&1"


rule plot:
    input:
        f"{RES}/results.parquet",
    output:
        report(f"{RES}/psnr_vs_scale.png", category="Plots"),
    conda:
        ENV
    log:
        f"{LOGS}/plot.log",
    shell:
        "python -m lmar plot {input:q} --out {output:q} > {log:q} 2>&1"


rule benchmark_suite:
    output:
        "results/benchmarks/suite.json",
    params:
        backbones=json.dumps({k: {"type": v["type"], "params": v.get("params", {})} for k, v in config["backbones"].items()}),
        device=config["device"],
    threads: JOB_THREADS
    resources:
        gpu=GPU,
    conda:
        ENV
    log:
        "logs/benchmark_suite.log",
    shell:
        "python -m lmar bench --out {output:q} --backbones {params.backbones:q} --device {params.device:q}"
        " --threads {threads} > {log:q} 2>&1"


rule tune_kernel:
    output:
        "results/benchmarks/kernel.json",
    resources:
        gpu=1,
    conda:
        ENV
    log:
        "logs/tune_kernel.log",
    shell:
        "python -m lmar tune-kernel --out {output:q} > {log:q} 2>&1"


rule bench:
    input:
        rules.benchmark_suite.output,
        # the fused kernel's launch sweep needs a CUDA GPU: with device "auto", ask for tune_kernel by name
        rules.tune_kernel.output if GPU else [],
