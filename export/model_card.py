"""MODEL_CARD.md of an export, in the layout of the Hugging Face / keras-io model cards: model
details, intended uses and limits, training data and settings, evaluation, export parity."""

QUANTIZED = ("int8", "int8_io", "dynamic_range")  # Variants with integer weights.


def _front_matter(model_info: dict) -> list[str]:
    kind = "denoising-autoencoder" if model_info["add_noise"] else "autoencoder"
    return [
        "---",
        "library_name: keras",
        "tags:",
        f"- {kind}",
        "- mnist",
        "- tflite",
        "datasets:",
        "- mnist",
        "---",
        "",
    ]


def _details(model_info: dict) -> list[str]:
    z = model_info["latent_dim"]
    noise = (
        f"trained on inputs corrupted by {model_info['noise']} at rate "
        f"{model_info['noise_rate']} (a denoising autoencoder)"
        if model_info["add_noise"]
        else "trained on clean inputs (a plain autoencoder)"
    )
    return [
        f"# Model card for {model_info['run_name']}",
        "",
        "## Model details",
        "",
        (
            f"An MLP autoencoder for 28x28 handwritten digits (784 pixels in [0, "
            f"{model_info['input_max']:g}]): encoder 784 -> 500 (ELU) -> 500 (tanh) -> {z}, "
            f"decoder {z} -> 500 (tanh) -> 500 (ELU) -> 784 (sigmoid), {noise}. Loss: "
            f"{model_info['loss'].upper()}. A Keras 3 / TensorFlow port of a PyTorch MNIST "
            "(denoising) autoencoder, exported as a SavedModel (`serving_default`, `encode`, "
            "`decode`) and TFLite variants."
        ),
        "",
    ]


def _uses_and_limits(model_info: dict, history: dict, report: dict) -> list[str]:
    config = history.get("config", {})
    excluded = config.get("exclude_digits") or []
    lines = [
        "## Intended uses & limitations",
        "",
        "Intended uses:",
        "",
        "- denoising binarized 28x28 digits (white on black, centred as in MNIST);",
        "- teaching: what a (denoising) autoencoder learns, its codes and filters;",
        "- anomaly scoring: the reconstruction error of an image as its anomaly score.",
        "",
        "Limits:",
        "",
        "- it was trained only on MNIST digits"
        + (" (binarized at 0.5)" if model_info["binarize_input"] else "")
        + "; letters, other symbols, natural images, dark digits on light paper (invert "
        "them first), other sizes or off-centre digits are outside its training data and "
        "are reconstructed as the nearest digit-like shape;",
        f"- pixel values above {model_info['input_max']:g} or below 0 were never seen;",
    ]
    if excluded:
        lines.append(
            f"- digits {', '.join(map(str, excluded))} were left out of its training "
            "set on purpose (held-out anomalies): it reconstructs them poorly;"
        )
    lines.append(
        "- it is not a classifier, and not a generative model with calibrated likelihoods."
    )
    quantized = [r for r in report["variants"] if r["variant"] in QUANTIZED]
    if quantized:
        lost = "; ".join(
            f"`{r['variant']}` {r['ce_change']:+.2%} (pixels off by up to {r['max_abs_diff']:.3f})"
            for r in quantized
        )
        lines += [
            "",
            (
                "What the integer variants lose: their weights (and for `int8`/`int8_io` "
                "the activations, calibrated on training images) are 8-bit, so test CE rises "
                f"against the float Keras model and single output pixels move: {lost}. Use "
                "`float32` or `float16` where the last digits of the reconstruction matter."
            ),
        ]
    return lines + [""]


def _training(history: dict) -> list[str]:
    config, epochs = history.get("config", {}), history.get("epochs", [])
    data = config.get("data_dir") or f"TFDS `{config.get('dataset', 'mnist')}`"
    lines = [
        "## Training and evaluation data",
        "",
        f"MNIST (60,000 training and 10,000 test images), read from {data}"
        + (
            f", without digits {config['exclude_digits']} in the training split"
            if config.get("exclude_digits")
            else ""
        )
        + (
            f", first {config['train_examples']} training images"
            if config.get("train_examples")
            else ""
        )
        + ".",
        "",
        "## Training procedure",
        "",
        "### Training hyperparameters",
        "",
        "| setting | value |",
        "| --- | --- |",
    ]
    for key in (
        "epochs",
        "batch_size",
        "learning_rate",
        "lr_decay_epoch",
        "lr_decay_factor",
        "loss",
        "latent_dim",
        "add_noise",
        "noise",
        "noise_rate",
        "binarize_input",
        "seed",
    ):
        if key in config:
            lines.append(f"| {key} | {config[key]} |")
    lines.append("| optimizer | Adam |")
    if epochs:
        last = epochs[-1]
        lines += [
            "",
            f"After {len(epochs)} epochs: test loss "
            f"{last.get('test_loss_clean', float('nan')):.5f} (clean input)"
            + (
                f", {last['test_loss_noisy']:.5f} (noised input)"
                if last.get("test_loss_noisy") is not None  # An AE's history has it as null.
                else ""
            )
            + ".",
        ]
    return lines + [""]


def _evaluation(evaluation: dict | None) -> list[str]:
    lines = ["## Evaluation results", ""]
    if evaluation is None:
        return lines + [
            (
                "Not evaluated: run `python -m keras_dae.evaluate --run RUN` before "
                "exporting to add denoising, probe and anomaly numbers."
            ),
            "",
        ]
    probe, auc = evaluation["probe"], evaluation["anomaly"]["roc_auc"]
    lines += ["| measure | value |", "| --- | --- |"]
    for kind, c in evaluation["denoising"].items():
        if 0.5 in c["rates"]:
            i = c["rates"].index(0.5)
            lines.append(
                f"| test CE, {kind} corruption at 0.5 (input's own) | "
                f"{c['model_ce'][i]:.4f} ({c['input_ce'][i]:.4f}) |"
            )
    for name, label in (("z", "codes z"), ("hidden", "last hidden layer")):
        lines.append(
            f"| linear-probe test accuracy, {label} | {probe[name]['mean']:.2%} +- "
            f"{probe[name]['std']:.2%} |"
        )
    held = evaluation["anomaly"]["held_out_digits"]
    for name, label in (
        ("held_out", f"held-out digits {held}"),
        ("uniform_noise", "uniform noise"),
        ("inverted", "inverted digits"),
        ("ood_dir", "other dataset"),
    ):
        if auc.get(name) is not None:
            lines.append(f"| anomaly ROC-AUC, {label} | {auc[name]:.3f} |")
    return lines + [""]


def _parity(report: dict) -> list[str]:
    lines = [
        "## Export variants",
        "",
        (
            f"Version {report['version']}; each variant against the Keras model on "
            f"{report['test_images']} test images (Keras test CE {report['keras_test_ce']:.5f})."
        ),
        "",
        "| variant | bytes | max abs diff | test CE | CE change | limit | passed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in report["variants"]:
        lines.append(
            f"| {r['variant']} | {r['bytes']:,} | {r['max_abs_diff']:.2e} | "
            f"{r['test_ce']:.5f} | {r['ce_change']:+.3%} | {r['ce_tolerance']:.1%} | "
            f"{'yes' if r['passed'] else 'NO'} |"
        )
    return lines + [""]


def render(model_info: dict, history: dict, report: dict, evaluation: dict | None) -> str:
    """MODEL_CARD.md from model.json, history.json, the parity report and (when the run was
    evaluated) evaluation.json."""
    sections = (
        _front_matter(model_info)
        + _details(model_info)
        + _uses_and_limits(model_info, history, report)
        + _training(history)
        + _evaluation(evaluation)
        + _parity(report)
    )
    return "\n".join(sections).rstrip("\n") + "\n"
