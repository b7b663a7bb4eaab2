# Report: the results store (one file of every per-image row), and the tables and plots made from it alone.
# Each step's params hold the fingerprint of the module that writes its files (code(...)): an edit to it
# reruns the step.


rule gather:
    input:
        metrics_csvs(),
    output:
        store=f"{RES}/results.parquet",
        csv=f"{RES}/results.csv",
        left_out=f"{RES}/gather_left_out.md",
    params:
        code=code("lmar.report.store"),
    conda:
        ENV
    log:
        f"{LOGS}/gather.log",
    shell:
        "python -m lmar gather {input:q} --out {output.store:q} --out-csv {output.csv:q}"
        " --out-left-out {output.left_out:q} > {log:q} 2>&1"


rule table:
    input:
        store=f"{RES}/results.parquet",
        left_out=f"{RES}/gather_left_out.md",
    output:
        md=report(f"{RES}/table.md", caption="../report/table.rst", category="Tables"),
        tex=f"{RES}/table.tex",
        stats=f"{RES}/table_stats.csv",
        left_out=report(f"{RES}/left_out.md", caption="../report/left_out.rst", category="Tables"),
    params:
        code=code("lmar.report.write"),
        gain=config["report"]["gain"],
        title=f"lmar-bench: {EXP}",
    conda:
        ENV
    log:
        f"{LOGS}/table.log",
    shell:
        "python -m lmar table {input.store:q} --out-md {output.md:q} --out-tex {output.tex:q}"
        " --out-stats {output.stats:q} --gain {params.gain:q} --title {params.title:q}"
        " --left-out {input.left_out:q} --out-left-out {output.left_out:q} > {log:q} 2>&1"


rule plot:
    input:
        f"{RES}/results.parquet",
    output:
        psnr=report(f"{RES}/psnr_vs_scale.png", caption="../report/plot.rst", category="Plots"),
        gain=report(f"{RES}/gain_heatmap.png", caption="../report/gain.rst", category="Plots"),
        latency=report(f"{RES}/quality_vs_latency.png", caption="../report/latency.rst", category="Plots"),
        pdf=[f"{RES}/psnr_vs_scale.pdf", f"{RES}/gain_heatmap.pdf", f"{RES}/quality_vs_latency.pdf"],
    params:
        code=code("lmar.report.plots"),
        gain=config["report"]["gain"],
    conda:
        ENV
    log:
        f"{LOGS}/plot.log",
    shell:
        "python -m lmar plot {input:q} --out {output.psnr:q} --out-gain {output.gain:q}"
        " --out-latency {output.latency:q} --gain {params.gain:q} > {log:q} 2>&1"


rule plot_ablation:
    input:
        f"{RES}/results.parquet",
    output:
        png=report(f"{RES}/ablation.png", caption="../report/ablation.rst", category="Plots"),
        pdf=f"{RES}/ablation.pdf",
    params:
        code=code("lmar.report.plot_ablation"),
    conda:
        ENV
    log:
        f"{LOGS}/plot_ablation.log",
    shell:
        "python -m lmar plot-ablation {input:q} --out {output.png:q} > {log:q} 2>&1"


rule plot_curves:
    input:
        curve_files(),
    output:
        report(f"{RES}/training_curves.png", caption="../report/curves.rst", category="Training"),
    params:
        code=code("lmar.report.plot_curves"),
    conda:
        ENV
    log:
        f"{LOGS}/plot_curves.log",
    shell:
        "python -m lmar plot-curves {input:q} --out {output:q} > {log:q} 2>&1"


rule figures:
    input:
        unpack(figures_inputs),
    output:
        crops=report(f"{RES}/crops.png", caption="../report/crops.rst", category="Figures"),
        lmar=report(f"{RES}/lmar_map.png", caption="../report/lmar_map.rst", category="Figures"),
    params:
        code=code("lmar.report.figures"),
        outputs=lambda w: figure_outputs(),
        evaluation=json.dumps(EVALUATION, sort_keys=True),
        resamplers=lambda w: figure_cell()[3],
        lmar=lambda w, input: ["--lmar-ckpt", input.lmar] if "lmar" in input.keys() else [],
    conda:
        ENV
    log:
        f"{LOGS}/figures.log",
    shell:
        "python -m lmar figures --data {input.data:q} --outputs {params.outputs:q} --evaluation {params.evaluation:q}"
        " --resamplers {params.resamplers:q} --out-crops {output.crops:q} {params.lmar:q} --out-lmar {output.lmar:q}"
        " --metrics {input.metrics:q} > {log:q} 2>&1"


rule record_run:
    output:
        config=report(f"{RES}/config.resolved.yaml", caption="../report/config.rst", category="Provenance"),
        env=report(f"{RES}/environment.txt", caption="../report/environment.rst", category="Provenance"),
    params:
        code=code("lmar.run.run_record"),
        config=json.dumps(config, sort_keys=False, default=str),
    conda:
        ENV
    log:
        f"{LOGS}/record_run.log",
    shell:
        "python -m lmar record --config {params.config:q} --out-config {output.config:q} --out-env {output.env:q}"
        " > {log:q} 2>&1"


rule job_costs:
    input:
        benchmark_files(),
    output:
        md=report(f"{RES}/job_costs.md", caption="../report/job_costs.rst", category="Cost"),
        csv=f"{RES}/job_costs.csv",
    params:
        code=code("lmar.run.run_record"),
    conda:
        ENV
    log:
        f"{LOGS}/job_costs.log",
    shell:
        "python -m lmar record --benchmarks {input:q} --out-costs {output.md:q} > {log:q} 2>&1"


localrules:
    gather,
    figures,
    plot_curves,
    table,
    plot,
    record_run,
    job_costs,


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


rule benchmark_scale:
    output:
        json="results/benchmarks/scale.json",
        md="results/benchmarks/scale.md",
    params:
        device=config["device"],
    threads: JOB_THREADS
    resources:
        gpu=GPU,
    conda:
        ENV
    log:
        "logs/benchmark_scale.log",
    shell:
        "python -m lmar bench-eval --out results/benchmarks --device {params.device:q} --threads {threads}"
        " > {log:q} 2>&1"


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
        rules.benchmark_scale.output,
        # the fused kernel's launch sweep needs a CUDA GPU: with device "auto", ask for tune_kernel by name
        rules.tune_kernel.output if GPU else [],
