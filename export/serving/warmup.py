"""Reads a version's TensorFlow Serving warm-up file (a TFRecord of PredictionLog) without
TensorFlow; the server replays its Predict requests before it serves the version, as TF Serving
does. TFRecord's CRCs are not checked: the manifest's sha256 has checked the file's bytes."""

import os
import struct

from google.protobuf.message import DecodeError

from keras_dae.core.errors import ExportError
from keras_dae.export import layout
from keras_dae.export.serving.tfs_protos import predict_pb2, prediction_log_pb2

HEADER = struct.Struct("<QI")  # The record's length, the CRC of the length.
FOOTER = 4  # The CRC of the data.
MAX_RECORDS = 1000  # TF Serving's own cap on warm-up records.
MAX_BATCH = 1 << 16  # Rows in one warm-up request.


def _records(data: bytes, path: str) -> list[bytes]:
    found, offset = [], 0
    while offset < len(data):
        if offset + HEADER.size > len(data):
            raise ExportError(f"{path}: truncated TFRecord header at byte {offset}")
        (length, _), start = HEADER.unpack_from(data, offset), offset + HEADER.size
        if start + length + FOOTER > len(data):
            raise ExportError(f"{path}: truncated TFRecord at byte {offset}")
        found.append(data[start : start + length])
        offset = start + length + FOOTER
    return found


def requests(export_dir: str, version: int) -> list[predict_pb2.PredictRequest]:
    """The Predict requests of the version's warm-up file (none when it has no file); ExportError
    for a file that is not a TFRecord of PredictLogs."""
    path = layout.warmup_path(export_dir, version)
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        records = _records(f.read(), path)
    if len(records) > MAX_RECORDS:
        raise ExportError(f"{path}: {len(records)} records, more than {MAX_RECORDS}")
    found = []
    for index, record in enumerate(records):
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record)
        except DecodeError as e:
            raise ExportError(f"{path}: record {index} is no PredictionLog ({e})") from None
        if log.WhichOneof("log_type") != "predict_log":
            raise ExportError(f"{path}: record {index} is a {log.WhichOneof('log_type')}")
        found.append(log.predict_log.request)
    return found
