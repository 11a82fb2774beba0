"""Tests of flags.py and the CLI's handling of bad flags: one line, non-zero exit, no TensorFlow."""

from absl import flags as absl_flags
from absl.testing import absltest, parameterized

from keras_dae import flags
from keras_dae.core.errors import ConfigError
from tests.cli import CliAssertions, run_module


def parse(*args):
    """The TrainConfig for `python -m keras_dae ARGS`, on fresh flag values."""
    values = absl_flags.FlagValues()
    flags.define_train_flags(values)
    argv = values(["keras_dae", *args])
    return flags.train_config_from_flags(argv, values)


class FlagsTest(parameterized.TestCase):
    def test_defaults(self):
        c = parse()
        self.assertTrue(c.add_noise)
        self.assertEqual((c.epochs, c.loss, c.latent_dim), (10, "ce", 10))

    @parameterized.parameters(
        ["--noadd_noise"], ["--add_noise=false"], ["-n=False"], ["--add_noise=0"]
    )
    def test_booleans_can_be_false(self, arg):
        self.assertFalse(parse(arg).add_noise)

    def test_original_short_names(self):
        c = parse("-e", "3", "-ls", "MSE", "-lr", "1e-3", "-z", "2", "-p", "5", "-b=false")
        self.assertEqual(
            (c.epochs, c.loss, c.learning_rate, c.latent_dim, c.print_every), (3, "mse", 1e-3, 2, 5)
        )
        self.assertFalse(c.binarize_input)

    def test_strategy_and_overwrite(self):
        c = parse("--strategy=multi_worker", "--overwrite")
        self.assertEqual((c.strategy, c.overwrite), ("multi_worker", True))

    def test_separate_boolean_value_is_refused(self):
        # The original's `-n False` silently meant True; here it is an error.
        with self.assertRaisesRegex(ConfigError, "--noadd_noise"):
            parse("-n", "False")


class CommandLineTest(CliAssertions, parameterized.TestCase):
    @parameterized.parameters(
        (["--epochs=0"], "epochs"),
        (["-lr", "-1"], "learning_rate"),
        (["-ls", "kl"], "loss"),
        (["--noise_rate=2"], "noise_rate"),
        (["--noise=salt"], "noise"),
        (["-e", "ten"], "epochs"),
        (["--no_such_flag"], "no_such_flag"),
        (["-n", "False"], "False"),
    )
    def test_bad_flag_one_line_before_tensorflow(self, args, word):
        # -X importtime would list tensorflow if it were imported; the error must come first.
        run = run_module("keras_dae", *args, python_flags=("-X", "importtime"), timeout=60)
        self.assert_one_line_error(run, "keras_dae", word)
        self.assertNotIn("tensorflow", run.stderr)

    def test_help_lists_the_flags(self):
        run = run_module("keras_dae", "--help", timeout=60)
        for flag in ("-n,--[no]add_noise", "-ls,--loss", "-lr,--learning_rate", "--data_dir"):
            self.assertIn(flag, run.stdout)


if __name__ == "__main__":
    absltest.main()
