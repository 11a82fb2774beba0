"""TensorProto to and from arrays (export/serving/tensors.py), against TensorFlow's own
make_tensor_proto and make_ndarray, and the one-line refusals."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized
from kserve.errors import InvalidInput

from keras_dae.export.serving import tensors
from keras_dae.export.serving.tfs_protos import tensor_pb2

X = np.arange(6, dtype=np.float32).reshape(2, 3) / 7


def ours(tf_proto) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto.FromString(tf_proto.SerializeToString())


class TensorsTest(parameterized.TestCase):
    @parameterized.parameters(
        (tf.make_tensor_proto(X),),  # tensor_content
        (tf.make_tensor_proto(X.tolist(), tf.float32),),  # a list: TF packs it as content too
        (tf.make_tensor_proto(X.astype(np.float64)),),
    )
    def test_reads_what_tensorflow_writes(self, proto):
        np.testing.assert_allclose(tensors.from_proto(ours(proto), "x"), X, rtol=1e-6)

    def test_reads_float_val(self):
        proto = tensor_pb2.TensorProto(dtype=1, float_val=X.ravel().tolist())
        proto.tensor_shape.dim.add(size=2)
        proto.tensor_shape.dim.add(size=3)
        np.testing.assert_array_equal(tensors.from_proto(proto, "x"), X)

    def test_tensorflow_reads_what_we_write(self):
        proto = tf.make_tensor_proto(0)
        proto.ParseFromString(tensors.to_proto(X).SerializeToString())
        np.testing.assert_array_equal(tf.make_ndarray(proto), X)

    @parameterized.parameters(
        (tf.make_tensor_proto(["a"]), "has dtype DT_STRING; it takes DT_FLOAT"),
        (tf.make_tensor_proto(np.zeros(3, np.float32), shape=[2, 3]), "holds 3 values"),
    )
    def test_refusals(self, proto, message):
        with self.assertRaisesRegex(InvalidInput, message):
            tensors.from_proto(ours(proto), "input 'images'")


if __name__ == "__main__":
    absltest.main()
