"""What a worker serves, an HTTP worker or Envoy's gRPC one alike: KServe's server, the model
call, each model's versions loaded, the gRPC services over them, and the line that says so."""

import functools
import logging

from kserve import ModelServer

from keras_dae import flags
from keras_dae.export.serving import (
    kserve_internals,
    model_config,
    refusals,
    runtimes,
    tfs_grpc,
    v2,
)
from keras_dae.export.serving.batching import (
    Batcher,
    Infer,
    InlineBatcher,
    ThreadBatcher,
    model_call,
)
from keras_dae.export.serving.model import AutoencoderModel
from keras_dae.export.serving.repository import Repository
from keras_dae.export.serving.versions import settle

FLAGS = flags.FLAGS


def make_batcher() -> Batcher | None:
    """The batcher the flags ask for (on by default for the SavedModel only): the SavedModel's
    calls on a thread of their own, LiteRT's on the event loop's."""
    enabled = FLAGS.enable_batching
    if enabled is None:
        enabled = FLAGS.runtime == "savedmodel"
    if not enabled:
        return None
    kind = ThreadBatcher if FLAGS.runtime == "savedmodel" else InlineBatcher
    return kind(FLAGS.max_batch_size, FLAGS.batch_timeout_micros / 1e6)


def entries(config: model_config.ConfigFile | None) -> list[model_config.ModelEntry]:
    """The models to serve: the config file's, or --export_dir's newest version as --model_name."""
    if config is not None:
        return config.entries
    return [model_config.ModelEntry(FLAGS.model_name, FLAGS.export_dir, "latest")]


def load_models(
    config: model_config.ConfigFile | None, respawned: bool
) -> tuple[ModelServer, Infer, Repository]:
    """KServe's server (its data plane: the V2 APIs), the model call, and each model's versions
    loaded; ExportError when a model has none (a respawned worker's starts not ready instead)."""
    server = ModelServer(http_port=FLAGS.port, enable_grpc=False, grace_period=FLAGS.grace_seconds)
    infer = model_call(make_batcher(), FLAGS.runtime)
    threads = FLAGS.tensorflow_intra_op_parallelism, FLAGS.tensorflow_inter_op_parallelism
    load = runtimes.loader(FLAGS.runtime, FLAGS.variant, threads)
    settle()
    repository = Repository(
        server,
        load,
        lambda name: AutoencoderModel(name, FLAGS.max_batch, infer),
        FLAGS.allow_version_labels_for_unavailable_models,
    )
    repository.apply(entries(config), required=not respawned)
    return server, infer, repository


def add_grpc_services(target, repository: Repository, server: ModelServer, infer: Infer) -> None:
    """TF Serving's gRPC services and KServe's V2 one on `target` (a grpc.aio server, or
    grpc_asgi's app under Envoy)."""
    tfs_grpc.add_services(target, repository.lookup, infer, FLAGS.max_batch)
    kserve_internals.add_v2_grpc(
        target,
        server,
        functools.partial(v2.grpc_answer_before, repository.lookup),
        functools.partial(refusals.count_v2_grpc_refusal, repository.lookup),
    )


def log_serving(repository: Repository, worker: str, ports: str) -> None:
    """One line per model: which worker serves which of its versions, on which ports."""
    for name, (model, _) in repository.models.items():
        logging.getLogger("kserve").info(
            "%s serving %s versions %s on %s (%s)",
            worker,
            name,
            sorted(model.servable.versions) if model.servable else "none (not ready)",
            ports,
            FLAGS.runtime,
        )
