"""Stand-in versions for the protocol tests, no model: each output is the input's row sums times
the version number, so that an answer says which version ran it."""

import numpy as np

from keras_dae.export.serving import protocol
from keras_dae.export.serving.servables import Servable, model_not_found
from keras_dae.export.serving.served import Served

SIGNATURES = protocol.signatures(latent_dim=4, input_max=1.0)
OUTPUTS = {name: s.outputs for name, s in SIGNATURES.items()}


def version(number: int) -> Served:
    def call(name, x):
        return np.repeat(x.sum(1, keepdims=True) * number, OUTPUTS[name], 1).astype(np.float32)

    return Served(number, SIGNATURES, call)


SERVABLE = Servable("dae", {1: version(1), 2: version(2)}, {"stable": 1, "canary": 2})


def lookup(name: str) -> Servable:
    if name != "dae":
        raise model_not_found(name)
    return SERVABLE


async def infer(served, name, x):
    return served.call(name, x)
