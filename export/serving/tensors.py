"""float32 arrays to and from TensorFlow's TensorProto, as TF Serving's gRPC clients send them
(`float_val` from make_tensor_proto of a list, `tensor_content` from an array). No TensorFlow."""

import math

import numpy as np
from kserve.errors import InvalidInput

from keras_dae.export.serving.tfs_protos import tensor_pb2, types_pb2

# The number types an input may arrive as: dtype -> (its tensor_content's type, its value field).
READABLE = {
    types_pb2.DT_FLOAT: ("<f4", "float_val"),
    types_pb2.DT_DOUBLE: ("<f8", "double_val"),
    types_pb2.DT_INT32: ("<i4", "int_val"),
    types_pb2.DT_INT64: ("<i8", "int64_val"),
}


def fill_proto(proto: tensor_pb2.TensorProto, x: np.ndarray) -> tensor_pb2.TensorProto:
    """`x` into `proto` as DT_FLOAT in tensor_content: one copy, where float_val would cost a
    Python float per value (in place: a response's own field, not a copy of one)."""
    proto.dtype = types_pb2.DT_FLOAT
    proto.tensor_content = x.astype("<f4").tobytes()
    for size in x.shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def to_proto(x: np.ndarray) -> tensor_pb2.TensorProto:
    """`x` as a new DT_FLOAT TensorProto (fill_proto)."""
    return fill_proto(tensor_pb2.TensorProto(), x)


def _dtype_name(dtype: int) -> str:
    return types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else str(dtype)


def from_proto(proto: tensor_pb2.TensorProto, where: str) -> np.ndarray:
    """The array `proto` holds; InvalidInput (INVALID_ARGUMENT) names what does not add up."""
    if proto.dtype not in READABLE:
        raise InvalidInput(
            f"{where} has dtype {_dtype_name(proto.dtype)}; it takes DT_FLOAT (or DT_DOUBLE, "
            "DT_INT32, DT_INT64)"
        )
    shape = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank or min(shape, default=0) < 0:
        raise InvalidInput(f"{where} has no fully known shape")
    content_type, field = READABLE[proto.dtype]
    content = proto.tensor_content  # One read: each copies the bytes.
    if content:
        if len(content) % np.dtype(content_type).itemsize:
            raise InvalidInput(f"{where}: tensor_content of {len(content)} bytes")
        values = np.frombuffer(content, content_type)
    else:
        values = np.asarray(getattr(proto, field), content_type)
    if values.size != math.prod(shape):
        raise InvalidInput(
            f"{where} holds {values.size} values, its shape {shape} needs {math.prod(shape)}"
        )
    return values.reshape(shape)
