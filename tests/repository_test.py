"""Labels as the repository applies a --model_config_file (export/serving/repository.py) over
stand-in exports (a version's files, its manifest) and stand-in versions: a label naming a
version not served refuses the start and a reload (the old configuration serving on), and one
whose version goes later answers NOT_FOUND; --allow_version_labels_for_unavailable_models."""

import os
import tempfile
import types

from absl.testing import absltest, parameterized

from keras_dae.core.errors import ExportError
from keras_dae.export import layout, publish
from keras_dae.export.serving import model_config
from keras_dae.export.serving.model import AutoencoderModel
from keras_dae.export.serving.repository import Repository
from keras_dae.export.serving.servables import NotFound
from tests.servable_fixtures import infer, version
from tests.serving_fixtures import withdraw

NOT_SERVED = "models.config: model 'dae': label '{}' names version {}, which is not served"


def publish_fake(export_dir: str) -> int:
    """Publishes a version of the files a version needs, each holding its number (and their
    manifest); returns the number."""
    staging = publish.stage(export_dir)
    for folder, names in (
        (staging.saved_model, layout.SAVED_MODEL_FILES),
        (staging.record, layout.RECORD_FILES),
    ):
        for name in names:
            path = os.path.join(folder, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(str(staging.version))
    publish.publish(export_dir, staging)
    return staging.version


def config(export_dir: str, policy: str = "all {}", **labels: int) -> list:
    """The entries of a config serving `export_dir` as `dae` under `policy` with `labels`."""
    text = "".join(f'version_labels {{ key: "{k}" value: {v} }} ' for k, v in labels.items())
    base_path = os.path.join(export_dir, layout.SAVED_MODEL)
    body = f'name: "dae" base_path: "{base_path}" model_version_policy {{ {policy} }} {text}'
    return model_config.parse(f"model_config_list {{ config {{ {body} }} }}", "models.config")


class RepositoryTest(parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.export_dir = tempfile.mkdtemp(prefix="repository_test-")
        publish_fake(self.export_dir)
        publish_fake(self.export_dir)
        self.loads = []

    def repository(self, allow: bool = False) -> Repository:
        def load(_, number):
            self.loads.append(number)
            return version(number)

        server = types.SimpleNamespace(register_model=lambda model: None)
        return Repository(server, load, lambda name: AutoencoderModel(name, 8, infer), allow)

    def assert_not_found(self, repository: Repository, label: str, message: str):
        with self.assertRaisesWithLiteralMatch(NotFound, message):
            repository.lookup("dae").pick(label=label)

    @parameterized.named_parameters(
        ("outside_the_policy", "latest {}", 1),
        ("not_published", "all {}", 3),
    )
    def test_start_refuses_a_label_of_a_version_not_served(self, policy, number):
        with self.assertRaisesWithLiteralMatch(ExportError, NOT_SERVED.format("stable", number)):
            self.repository().apply(config(self.export_dir, policy, stable=number), required=True)

    def test_start_refuses_a_label_of_a_version_that_does_not_load(self):
        with open(
            os.path.join(layout.version_dir(self.export_dir, 2), layout.MODEL_INFO), "a"
        ) as f:
            f.write(" ")  # Version 2 no longer matches its manifest: skipped.
        with self.assertRaisesWithLiteralMatch(ExportError, NOT_SERVED.format("canary", 2)):
            self.repository().apply(config(self.export_dir, canary=2), required=True)

    def test_respawned_worker_warns_and_serves(self):
        repository = self.repository()
        with self.assertLogs(level="WARNING") as logs:
            repository.apply(config(self.export_dir, "latest {}", stable=1))
        self.assertEqual(
            logs.records[0].getMessage(),
            NOT_SERVED.format("stable", 1) + ": it answers NOT_FOUND until that version is served",
        )
        self.assert_not_found(
            repository, "stable", "Servable not found for request: Specific(dae, 1)"
        )
        self.assertEqual(repository.lookup("dae").pick().version, 2)

    def test_reload_refused_keeps_the_old_configuration(self):
        repository = self.repository()
        repository.apply(config(self.export_dir, "specific { versions: 1 }", stable=1), True)
        refused = config(self.export_dir, stable=1, canary=3)  # Loads 2, labels 3.
        with self.assertRaisesWithLiteralMatch(ExportError, NOT_SERVED.format("canary", 3)):
            repository.reload(refused)
        servable = repository.lookup("dae")
        self.assertEqual((list(servable.versions), servable.labels), ([1], {"stable": 1}))
        self.assertEqual(list(repository.models["dae"][1].source.loaded), [1])  # 2 released.
        publish_fake(self.export_dir)
        repository.reload(refused)  # Version 3 is published now: applied.
        self.assertEqual(repository.lookup("dae").pick(label="canary").version, 3)
        self.assertEqual(self.loads, [1, 2, 3, 2])

    def test_version_withdrawn_later_leaves_its_label_not_found(self):
        repository = self.repository()
        repository.apply(config(self.export_dir, stable=1, canary=2), required=True)
        withdraw(self.export_dir, 2)
        with self.assertLogs(level="WARNING") as logs:
            repository.poll()
        self.assertIn(NOT_SERVED.format("canary", 2) + ": it answers NOT_FOUND", logs.output[-1])
        self.assert_not_found(
            repository, "canary", "Servable not found for request: Specific(dae, 2)"
        )
        self.assertEqual(repository.lookup("dae").pick(label="stable").version, 1)

    def test_allow_flag_lets_a_new_label_name_a_version_not_served(self):
        repository = self.repository(allow=True)
        repository.apply(config(self.export_dir, stable=1, canary=3), required=True)
        self.assert_not_found(
            repository, "canary", "Servable not found for request: Specific(dae, 3)"
        )
        with self.assertRaisesWithLiteralMatch(ExportError, NOT_SERVED.format("stable", 5)):
            repository.reload(config(self.export_dir, stable=5, canary=3))  # A label moved.
        repository.reload(config(self.export_dir, stable=1, canary=3, beta=6))
        publish_fake(self.export_dir)
        repository.poll()
        self.assertEqual(repository.lookup("dae").pick(label="canary").version, 3)
        self.assertEqual(repository.lookup("dae").labels, {"stable": 1, "canary": 3, "beta": 6})


if __name__ == "__main__":
    absltest.main()
