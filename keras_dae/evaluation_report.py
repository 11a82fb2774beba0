"""evaluation.json as a markdown page (evaluation.md)."""

AUC_NAMES = {
    "held_out": "held-out digits",
    "uniform_noise": "uniform noise",
    "inverted": "inverted digits",
    "ood_dir": "--ood_dir test split",
}


def _number(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def denoising_table(kind: str, runs: list[dict]) -> list[str]:
    """One row per rate: the corrupted input's CE and PSNR, then each run's."""
    names = [r["label"] for r in runs]
    lines = [
        f"### {kind}",
        "",
        "| rate | input CE | input PSNR | "
        + " | ".join(f"{n} CE | {n} PSNR" for n in names)
        + " |",
        "| ---: | ---: | ---: | " + " | ".join("---: | ---:" for _ in names) + " |",
    ]
    base = runs[0]["denoising"][kind]
    for i, rate in enumerate(base["rates"]):
        cells = [f"{rate:.1f}", f"{base['input_ce'][i]:.4f}", f"{base['input_psnr'][i]:.2f}"]
        for r in runs:
            c = r["denoising"][kind]
            cells += [f"{c['model_ce'][i]:.4f}", f"{c['model_psnr'][i]:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


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
            f"| {r['label']} | {z['mean']:.2%} +- {z['std']:.2%} | "
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
            f"| {r['label']} | {_number(auc['held_out'], '.3f')}"
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
