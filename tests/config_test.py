"""Tests of keras_dae.core.config: the original's defaults and one clear error per bad value."""

from absl.testing import absltest, parameterized

from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import ConfigError


class TrainConfigTest(parameterized.TestCase):
    def test_defaults_are_the_originals(self):
        c = TrainConfig()
        self.assertEqual(
            (c.add_noise, c.binarize_input, c.epochs, c.loss, c.latent_dim, c.batch_size),
            (True, True, 10, "ce", 10, 64),
        )
        self.assertEqual((c.learning_rate, c.lr_decay_epoch, c.lr_decay_factor), (3e-4, 6, 10.0))
        self.assertEqual((c.noise, c.noise_rate), ("dropout", 0.5))

    @parameterized.parameters(
        (dict(), "DAE-CE-z10"),
        (dict(add_noise=False), "AE-CE-z10"),
        (dict(loss="MSE", latent_dim=2), "DAE-MSE-z2"),
    )
    def test_run_name_and_default_workdir(self, kwargs, name):
        c = TrainConfig(**kwargs)
        self.assertEqual(c.run_name, name)
        self.assertEqual(c.workdir, f"runs/{name}")
        self.assertEqual(TrainConfig(output_dir="/tmp/x", **kwargs).workdir, "/tmp/x")

    def test_loss_and_noise_any_case(self):
        c = TrainConfig(loss="Mse", noise="GAUSSIAN", noise_rate=0.3)
        self.assertEqual((c.loss, c.noise), ("mse", "gaussian"))

    @parameterized.parameters(
        ("epochs", 0),
        ("epochs", 2.5),
        ("latent_dim", 0),
        ("batch_size", -1),
        ("learning_rate", 0.0),
        ("learning_rate", -1e-3),
        ("learning_rate", float("nan")),
        ("loss", "bce"),
        ("noise", "salt"),
        ("noise_rate", 1.0),
        ("noise_rate", 0.0),
        ("lr_decay_factor", 0.5),
        ("print_every", -1),
        ("seed", -3),
        ("train_examples", 0),
    )
    def test_bad_value_names_the_field(self, field, value):
        with self.assertRaisesRegex(ConfigError, field):
            TrainConfig(**{field: value})

    def test_gaussian_sigma_range(self):
        self.assertEqual(TrainConfig(noise="gaussian", noise_rate=1.0).noise_rate, 1.0)
        with self.assertRaisesRegex(ConfigError, "sigma"):
            TrainConfig(noise="gaussian", noise_rate=1.5)


if __name__ == "__main__":
    absltest.main()
