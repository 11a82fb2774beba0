"""Tests of keras_dae.distribute: two workers on 127.0.0.1 train one epoch with
MultiWorkerMirroredStrategy and end with the same weights; only the chief writes outputs."""

import json
import os
import socket
import subprocess
import sys
from unittest import mock

import numpy as np
import tensorflow as tf

from keras_dae import distribute
from keras_dae.core.errors import RunError
from tests.idx_fixtures import write_mnist_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = """
import sys
import numpy as np
from keras_dae.core.config import TrainConfig
from keras_dae.training import train_and_evaluate
data_dir, output_dir, weights = sys.argv[1:]
config = TrainConfig(data_dir=data_dir, output_dir=output_dir, epochs=1, print_every=0,
                     strategy="multi_worker")
result = train_and_evaluate(config)
np.savez(weights, *result.autoencoder.get_weights())
"""


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class TwoWorkerTest(tf.test.TestCase):
    def test_two_workers_agree_and_only_the_chief_writes(self):
        tmp = self.create_tempdir().full_path
        data_dir = os.path.join(tmp, "mnist")
        os.makedirs(data_dir)
        write_mnist_dir(data_dir, n_train=640, n_test=64)
        cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
        processes = []
        for index in range(2):
            env = dict(
                os.environ,
                TF_CONFIG=json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                ),
            )
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        WORKER,
                        data_dir,
                        os.path.join(tmp, f"out{index}"),
                        os.path.join(tmp, f"weights{index}.npz"),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        for p in processes:
            output, _ = p.communicate(timeout=180)
            self.assertEqual(p.returncode, 0, output[-3000:])
        weights = [np.load(os.path.join(tmp, f"weights{i}.npz")) for i in range(2)]
        self.assertLen(weights[0].files, 12)
        for name in weights[0].files:
            self.assertAllEqual(weights[0][name], weights[1][name])
        chief = os.listdir(os.path.join(tmp, "out0"))
        self.assertContainsSubset(["model.keras", "history.json", "loss.png", "truth.png"], chief)
        self.assertNotIn("backup.npz", chief)  # removed once the run is complete
        other = os.path.join(tmp, "out1")
        self.assertEmpty(os.listdir(other) if os.path.isdir(other) else [])
        with open(os.path.join(tmp, "out0", "history.json")) as f:
            self.assertLen(json.load(f)["epochs"], 1)


class StrategyTest(tf.test.TestCase):
    def test_default_is_one_chief_replica(self):
        strategy = distribute.make_strategy("default")
        self.assertEqual(strategy.num_replicas_in_sync, 1)
        self.assertTrue(distribute.is_chief(strategy))

    def test_multi_worker_needs_tf_config(self):
        with mock.patch.dict(os.environ):
            os.environ.pop("TF_CONFIG", None)
            with self.assertRaisesRegex(
                RunError, "--strategy=multi_worker needs the cluster in the TF_CONFIG"
            ):
                distribute.make_strategy("multi_worker")


if __name__ == "__main__":
    tf.test.main()
