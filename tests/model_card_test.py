"""export.model_card.render: the sections, the parity table and the evaluation's numbers."""

from absl.testing import absltest

from keras_dae.export import model_card

MODEL_INFO = {
    "run_name": "DAE-CE-z10",
    "latent_dim": 10,
    "add_noise": True,
    "noise": "dropout",
    "noise_rate": 0.5,
    "binarize_input": True,
    "loss": "ce",
    "input_max": 2.0,
}
HISTORY = {
    "config": {
        "epochs": 2,
        "batch_size": 64,
        "learning_rate": 3e-4,
        "latent_dim": 10,
        "data_dir": "data/mnist",
        "exclude_digits": [9],
    },
    "epochs": [
        {"epoch": 1, "test_loss_clean": 0.2},
        {"epoch": 2, "test_loss_clean": 0.125, "test_loss_noisy": 0.1375},
    ],
}


def _row(variant, change):
    return {
        "variant": variant,
        "file": f"{variant}.tflite",
        "bytes": 1234567,
        "max_abs_diff": 1e-3,
        "test_ce": 0.1 * (1 + change),
        "ce_change": change,
        "ce_tolerance": 0.02,
        "latency_us_batch1": 50.0,
        "passed": True,
    }


REPORT = {
    "version": 3,
    "model": "/m/model.keras",
    "test_images": 10000,
    "keras_test_ce": 0.1,
    "num_threads": 1,
    "variants": [_row("float32", 0.0), _row("int8", 0.0123)],
}
EVALUATION = {
    "run": "runs/x",
    "seconds": 1.0,
    "denoising": {
        "dropout": {
            "rates": [0.0, 0.5],
            "model_ce": [0.1, 0.1128],
            "model_psnr": [15.0, 14.0],
            "input_ce": [0.0, 1.08],
            "input_psnr": [100.0, 5.0],
        }
    },
    "probe": {
        "z": {"accuracies": [0.87], "mean": 0.8742, "std": 0.0007},
        "hidden": {"accuracies": [0.96], "mean": 0.9594, "std": 0.0023},
    },
    "anomaly": {
        "held_out_digits": [9],
        "roc_auc": {"held_out": 0.789, "uniform_noise": 1.0, "inverted": 0.999, "ood_dir": None},
    },
}


class ModelCardTest(absltest.TestCase):
    def test_sections_in_model_card_order(self):
        card = model_card.render(MODEL_INFO, HISTORY, REPORT, EVALUATION)
        self.assertTrue(card.startswith("---\nlibrary_name: keras\n"))
        headings = [line for line in card.splitlines() if line.startswith("## ")]
        self.assertEqual(
            headings,
            [
                "## Model details",
                "## Intended uses & limitations",
                "## Training and evaluation data",
                "## Training procedure",
                "## Evaluation results",
                "## Export variants",
            ],
        )

    def test_numbers(self):
        card = model_card.render(MODEL_INFO, HISTORY, REPORT, EVALUATION)
        for text in (
            "| 0.1128 (1.0800) |",
            "87.42% +- 0.07%",
            "95.94% +- 0.23%",
            "held-out digits [9] | 0.789 |",
            "inverted digits | 0.999 |",
            "`int8` +1.23% (pixels off by up to 0.001)",
            "| int8 | 1,234,567 |",
            "| float32 |",
            "digits 9 were left out",
            "[0, 2]",
            "test loss 0.12500 (clean input), 0.13750 (noised input)",
            "| learning_rate | 0.0003 |",
        ):
            self.assertIn(text, card)
        self.assertNotIn("other dataset", card)  # Its ROC-AUC is null.

    def test_without_evaluation_or_quantized_variants(self):
        report = REPORT | {"variants": [_row("float32", 0.0)]}
        card = model_card.render(
            MODEL_INFO | {"add_noise": False, "input_max": 1.0},
            {"config": {}, "epochs": []},
            report,
            None,
        )
        self.assertIn("Not evaluated", card)
        self.assertIn("plain autoencoder", card)
        self.assertNotIn("integer variants", card)
        self.assertNotIn("left out", card)

    def test_plain_autoencoder_history(self):
        # An AE's history.json records test_loss_noisy as null: the card says nothing of it.
        history = HISTORY | {
            "epochs": [{"epoch": 1, "test_loss_clean": 0.1, "test_loss_noisy": None}]
        }
        card = model_card.render(MODEL_INFO | {"add_noise": False}, history, REPORT, None)
        self.assertIn("test loss 0.10000 (clean input).", card)
        self.assertNotIn("noised input", card)


if __name__ == "__main__":
    absltest.main()
