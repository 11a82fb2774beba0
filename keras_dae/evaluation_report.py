"""evaluation.json as a markdown page (evaluation.md)."""

AUC_NAMES = {
    "held_out": "held-out digits",
    "uniform_noise": "uniform noise",
    "inverted": "inverted digits",
    "ood_dir": "--ood_dir test split",
}


def _number(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def named(report: dict) -> str:
    """The run's label, and its test set's tag when the compared runs' test sets differ."""
    tag = report.get("test_set_label")
    return f"{report['label']} [{tag}]" if tag else report["label"]


def denoising_table(kind: str, runs: list[dict]) -> list[str]:
    """One row per rate: the corrupted input's CE and PSNR, then each run's; each run's own
    input when their test sets differ (the input is then not the same images)."""
    own_inputs = any(r.get("test_set_label") for r in runs)
    columns = []  # (header, run, key, format)
    for i, r in enumerate(runs):
        if own_inputs or i == 0:
            prefix = f"{named(r)} input" if own_inputs else "input"
            columns += [(f"{prefix} CE", r, "input_ce", ".4f")]
            columns += [(f"{prefix} PSNR", r, "input_psnr", ".2f")]
        columns += [(f"{named(r)} CE", r, "model_ce", ".4f")]
        columns += [(f"{named(r)} PSNR", r, "model_psnr", ".2f")]
    lines = [
        f"### {kind}",
        "",
        "| rate | " + " | ".join(c[0] for c in columns) + " |",
        "| ---: | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for i, rate in enumerate(runs[0]["denoising"][kind]["rates"]):
        cells = [f"{rate:.1f}"]
        cells += [format(r["denoising"][kind][key][i], spec) for _, r, key, spec in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def test_sets(runs: list[dict]) -> list[str]:
    """When the runs' test sets differ, a paragraph saying so and which is whose."""
    if not any(r.get("test_set_label") for r in runs):
        return []
    whose = "; ".join(
        f"{named(r)}: {r['test_set']['images']} images of {r['test_set']['source']}, "
        f"{'binarized' if r['test_set']['binarized'] else 'not binarized'}, digits held out "
        f"{r['test_set']['held_out_digits'] or 'none'}"
        for r in runs
    )
    return [
        "**The runs were measured on different test sets** (--allow_different_test_sets): "
        f"each number is on its own run's. {whose}.",
        "",
    ]


def markdown(evaluation: dict) -> str:
    """The page: probes, anomaly ROC-AUCs, denoising tables and the figures."""
    runs = [evaluation] + ([evaluation["compare"]] if evaluation.get("compare") else [])
    probe = evaluation["probe"]
    lines = [
        f"# What {evaluation['label']} learned",
        "",
        f"Run `{evaluation['run']}`"
        + (f", compared with `{runs[1]['run']}`" if len(runs) > 1 else "")
        + f"; evaluated in {evaluation['seconds']:.0f} s ({evaluation['cpu_seconds']:.0f} CPU "
        f"s; its training epochs took {evaluation['training_seconds']:.0f} s).",
        "",
        *test_sets(runs),
        "## Linear probe (softmax regression, test accuracy)",
        "",
        (
            f"A softmax layer on standardized frozen features, trained {probe['epochs']} epochs "
            f"on {probe['examples']} training images, tested on the test split; mean +- std "
            f"over seeds {', '.join(map(str, probe['seeds']))} (initial weights and batch "
            "order)."
        ),
        "",
        "| run | codes z | last hidden layer |",
        "| --- | ---: | ---: |",
    ]
    for r in runs:
        z, h = r["probe"]["z"], r["probe"]["hidden"]
        lines.append(
            f"| {named(r)} | {z['mean']:.2%} +- {z['std']:.2%} | "
            f"{h['mean']:.2%} +- {h['std']:.2%} |"
        )
    lines += [
        "",
        "## Anomaly detection (score: reconstruction CE; ROC-AUC against the trained test digits)",
        "",
        "| run | held-out digits | " + " | ".join(AUC_NAMES[k] for k in list(AUC_NAMES)[1:]) + " |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        auc = r["anomaly"]["roc_auc"]
        held = r["anomaly"]["held_out_digits"]
        lines.append(
            f"| {named(r)} | {_number(auc['held_out'], '.3f')}"
            f"{f' ({held})' if held else ''} | "
            + " | ".join(_number(auc[k], ".3f") for k in list(AUC_NAMES)[1:])
            + " |"
        )
    lines += [
        "",
        "![anomaly scores](anomaly.png)",
        "",
        "## Denoising (test CE in nats/pixel, PSNR in dB, against the clean image)",
        "",
        (
            "The corrupted input is scored clipped to [0, 1]; PSNR is averaged per image with "
            "the MSE floored at 1e-10 (identical images: 100 dB)."
        ),
        "",
        "![denoising curves](denoising.png)",
        "",
    ]
    for kind in evaluation["denoising"]:
        lines += denoising_table(kind, runs)
    lines += ["## First-layer filters (the 100 of largest norm)", "", "![filters](filters.png)"]
    return "\n".join(lines) + "\n"
