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
    argv, _ = flags.join_boolean_values(["keras_dae", *args], values)
    return flags.train_config_from_flags(values(argv), values)


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

    @parameterized.parameters(
        (["-n", "False"], False, True),
        (["-n", "True", "-b", "False"], True, False),
        (["--add_noise", "false", "--binarize_input", "TRUE"], False, True),
        (["-b", "False", "-n", "False"], False, False),
    )
    def test_separate_boolean_values_read_as_meant(self, args, add_noise, binarize):
        # The original's README writes `-n True`; its argparse read `-n False` as True too.
        c = parse(*args)
        self.assertEqual((c.add_noise, c.binarize_input), (add_noise, binarize))

    def test_absl_spelling_of_the_joined_values(self):
        values = absl_flags.FlagValues()
        flags.define_train_flags(values)
        argv, joined = flags.join_boolean_values(
            ["p", "-n", "False", "-z", "10", "-b", "true", "-e", "1"], values
        )
        self.assertEqual(argv, ["p", "--noadd_noise", "-z", "10", "--binarize_input", "-e", "1"])
        self.assertEqual(joined, [("-n False", "--noadd_noise"), ("-b true", "--binarize_input")])

    @parameterized.parameters(
        (["-z", "10", "extra"], "'extra'"),
        (["--noadd_noise", "False"], "'False'"),  # A negated flag takes no value.
        (["--data_dir", "d", "True"], "'True'"),  # Nor does a word after a value.
    )
    def test_stray_arguments_are_named(self, args, word):
        with self.assertRaisesRegex(ConfigError, f"unexpected argument\\(s\\) {word}:"):
            parse(*args)


class CommandLineTest(CliAssertions, parameterized.TestCase):
    @parameterized.parameters(
        (["--epochs=0"], "epochs"),
        (["-lr", "-1"], "learning_rate"),
        (["-ls", "kl"], "loss"),
        (["--noise_rate=2"], "noise_rate"),
        (["--noise=salt"], "noise"),
        (["-e", "ten"], "epochs"),
        (["--no_such_flag"], "no_such_flag"),
        (["-z", "10", "extra"], "'extra'"),
    )
    def test_bad_flag_one_line_before_tensorflow(self, args, word):
        # -X importtime would list tensorflow if it were imported; the error must come first.
        run = run_module("keras_dae", *args, python_flags=("-X", "importtime"), timeout=60)
        self.assert_one_line_error(run, "keras_dae", word)
        self.assertNotIn("tensorflow", run.stderr)

    def test_one_line_gives_the_absl_spelling(self):
        run = run_module("keras_dae", "-n", "False", "-b", "True", "-e", "0", timeout=60)
        self.assertIn(
            "keras_dae: read -n False -b True as --noadd_noise --binarize_input "
            "(absl's spelling)\n",
            run.stderr,
        )
        self.assertIn("keras_dae: error: epochs must be", run.stderr)  # The values came through.

    def test_help_lists_the_flags(self):
        run = run_module("keras_dae", "--help", timeout=60)
        for flag in ("-n,--[no]add_noise", "-ls,--loss", "-lr,--learning_rate", "--data_dir"):
            self.assertIn(flag, run.stdout)


if __name__ == "__main__":
    absltest.main()
