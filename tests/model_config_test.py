"""--model_config_file's parsing, checks, version policies, labels and reload (no server)."""

import json
import os
import tempfile

from absl.testing import absltest, parameterized

from keras_dae.core.errors import ExportError
from keras_dae.export.serving import model_config
from keras_dae.export.serving.model_config import ConfigFile, ModelEntry

CONFIG = """
model_config_list {
  config {
    name: "dae"
    base_path: "/models/dae/saved_model"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config {
    name: "ae"
    base_path: "/models/ae/saved_model/"
    model_version_policy { latest { num_versions: 2 } }
  }
  config { name: "all" base_path: "/models/all/saved_model" model_version_policy { all {} } }
  config { name: "plain" base_path: "/models/plain/saved_model" }
}
"""


def one_model(body: str) -> str:
    return f"model_config_list {{ config {{ {body} }} }}"


class ParseTest(parameterized.TestCase):
    def test_models_policies_and_labels(self):
        dae, ae, every, plain = model_config.parse(CONFIG, "models.config")
        self.assertEqual(
            dae,
            ModelEntry(
                "dae",
                "/models/dae",
                "specific",
                1,
                (1, 2),
                (("canary", 2), ("stable", 1)),
                "models.config",
            ),
        )
        self.assertEqual((ae.export_dir, ae.policy, ae.num_versions), ("/models/ae", "latest", 2))
        self.assertEqual(every.policy, "all")
        self.assertEqual((plain.policy, plain.num_versions), ("latest", 1))  # TF Serving's default.

    def test_policies_select_versions(self):
        dae, ae, every, plain = model_config.parse(CONFIG, "models.config")
        available = [1, 2, 3, 5]
        self.assertEqual(dae.select(available), [1, 2])
        self.assertEqual(dae.select([2, 3]), [2])
        self.assertEqual(ae.select(available), [3, 5])
        self.assertEqual(every.select(available), available)
        self.assertEqual(plain.select(available), [5])
        self.assertEqual(plain.select([]), [])

    def test_unserved_label_names_the_file_model_label_and_version(self):
        dae = model_config.parse(CONFIG, "models.config")[0]
        self.assertIsNone(dae.unserved_label([1, 2]))
        line = "models.config: model 'dae': label 'stable' names version 1, which is not served"
        self.assertEqual(dae.unserved_label([2]), line)
        self.assertIsNone(dae.unserved_label([2], {}))  # Allowed: a new label.
        self.assertIsNone(dae.unserved_label([2], {"stable": 1}))  # Allowed: not moved.
        self.assertEqual(dae.unserved_label([2], {"stable": 2}), line)  # Moved: refused.

    @parameterized.parameters(
        ("model_config_list { config { nam: 'x' } }", r'1:30 : Message type "tensorflow\.serving'),
        ("", "needs a model_config_list"),
        ("model_config_list { }", "has no model"),
        (one_model("base_path: '/m/saved_model'"), "a model has no name"),
        (one_model("name: 'x' base_path: '/m/x'"), r"base_path '/m/x' must name an export's"),
        (one_model("name: 'x'"), "base_path '' must name"),
        (
            one_model("name: 'x' base_path: '/m/saved_model' model_platform: 'pytorch'"),
            "model_platform 'pytorch'",
        ),
        (
            one_model("name: 'x' base_path: '/s/saved_model' model_version_policy { specific {} }"),
            "the specific version policy needs versions",
        ),
        (
            one_model(
                "name: 'x' base_path: '/s/saved_model' "
                "model_version_policy { specific { versions: 1 } } "
                "version_labels { key: 'canary' value: 2 }"
            ),
            "label 'canary' names version 2, not in its policy",
        ),
        (
            one_model("name: 'x' base_path: '/s/saved_model' version_labels { key: '7' value: 1 }"),
            "label '7'",
        ),
        (
            "model_config_list { config { name: 'x' base_path: '/a/saved_model' } "
            "config { name: 'x' base_path: '/b/saved_model' } }",
            "model 'x' is configured twice",
        ),
    )
    def test_bad_config_is_one_line(self, text, message):
        with self.assertRaisesRegex(ExportError, message) as raised:
            model_config.parse(text, "models.config")
        self.assertTrue(str(raised.exception).startswith("models.config: "))
        self.assertNotIn("\n", str(raised.exception))
        self.assertNotIn("ovmsclient", str(raised.exception))


class ReloadTest(absltest.TestCase):
    def setUp(self):
        self.path = os.path.join(tempfile.mkdtemp(prefix="model_config_test-"), "models.config")
        self.write(CONFIG)

    def write(self, text: str):
        with open(self.path, "w") as f:
            f.write(text)
        stat = os.stat(self.path)  # A new mtime, however quick the test.
        os.utime(self.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    def test_changed_file_is_applied_and_a_bad_one_keeps_the_old(self):
        config, applied = ConfigFile(self.path), []
        self.assertLen(config.entries, 4)
        config.poll(applied.append)  # Unchanged.
        self.assertEqual(applied, [])
        self.write(one_model("name: 'ae' base_path: '/models/ae/saved_model'"))
        config.poll(applied.append)
        self.assertEqual([e.name for e in applied.pop()], ["ae"])
        with self.assertLogs(level="WARNING") as logs:
            self.write("model_config_list { config {")
            config.poll(applied.append)
        self.assertLen(logs.output, 1)
        self.assertIn("model config not reloaded, the old one serves on", logs.output[0])
        self.assertEqual((applied, [e.name for e in config.entries]), ([], ["ae"]))
        self.write(CONFIG)
        config.poll(applied.append)
        self.assertLen(applied.pop(), 4)

    def test_config_its_application_refuses_is_not_taken(self):
        config = ConfigFile(self.path)

        def refuse(_):
            raise ExportError("models.config: model 'dae': label 'canary' names version 2, ...")

        with self.assertLogs(level="WARNING") as logs:
            self.write(one_model("name: 'ae' base_path: '/models/ae/saved_model'"))
            config.poll(refuse)
        self.assertEqual(
            logs.records[0].getMessage(),
            "model config not reloaded, the old one serves on: models.config: model 'dae': "
            "label 'canary' names version 2, ...",
        )
        self.assertLen(config.entries, 4)
        applied = []
        self.write(one_model("name: 'ae' base_path: '/models/ae/saved_model'"))  # Written again.
        config.poll(applied.append)
        self.assertEqual([e.name for e in applied.pop()], ["ae"])

    def test_config_as_another_process_read_it_then_polls_the_file(self):
        state = json.loads(json.dumps(ConfigFile(self.path).state()))  # As Envoy's worker gets it.
        self.write(one_model("name: 'ae' base_path: '/models/ae/saved_model'"))
        config, applied = ConfigFile(self.path, state), []
        self.assertLen(config.entries, 4)  # What was read, not the file now.
        config.poll(applied.append)
        self.assertEqual([e.name for e in applied.pop()], ["ae"])
        unchanged = ConfigFile(self.path, json.loads(json.dumps(config.state())))
        unchanged.poll(applied.append)
        self.assertEqual((applied, [e.name for e in unchanged.entries]), ([], ["ae"]))

    def test_missing_file_at_start_is_one_line(self):
        with self.assertRaisesRegex(ExportError, "nowhere.config: No such file or directory"):
            ConfigFile(os.path.join(os.path.dirname(self.path), "nowhere.config"))


if __name__ == "__main__":
    absltest.main()
