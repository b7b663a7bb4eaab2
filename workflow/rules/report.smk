# Report: tables and plots, made only from the results files.


rule table:
    input:
        metrics_csvs(),
    output:
        md=report(f"{RES}/table.md", category="Tables"),
        csv=f"{RES}/metrics.csv",
    params:
        gain=config["report"]["gain"],
        title=f"lmar-bench: {EXP}",
    conda:
        ENV
    log:
        f"{LOGS}/table.log",
    shell:
        "python -m lmar table {input:q} --out-md {output.md:q} --out-csv {output.csv:q}"
        " --gain {params.gain:q} --title {params.title:q} > {log:q} 2>&1"


rule plot:
    input:
        f"{RES}/metrics.csv",
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
