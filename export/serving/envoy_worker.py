"""A gRPC worker of --grpc_server=envoy (--grpc_workers of them share the port): Envoy, through
pyvoy, serving grpc_app's ASGI app on --grpc_port (Envoy's HTTP/2, one Python interpreter inside
Envoy's process), as a child of this forked worker. At SIGTERM or SIGINT Envoy's listeners are
drained (new connections refused, open ones sent GOAWAY) and the calls in flight get up to
--grace_seconds, as the HTTP workers'."""

import asyncio
import json
import os
import signal
import urllib.request

from absl import logging
from pyvoy import PyvoyServer, StartupError

from keras_dae.export.serving import kserve_internals

APP = "keras_dae.export.serving.grpc_app:app"
ENV = "KERAS_DAE_GRPC_WORKER"  # The app's settings: see grpc_app.py.
POLL_S = 0.05  # How often the drain checks for calls still in flight.
# One Envoy worker thread: 5% more calls a second than one per core here (its threads and the
# interpreter share the cores); the drain's period 0: GOAWAY at once, then the listeners close.
ENVOY_ARGS = ["--concurrency", "1", "--drain-time-s", "0", "--drain-strategy", "immediate"]


def _admin(admin: str, path: str, method: str = "GET") -> bytes:
    request = urllib.request.Request(f"http://{admin}{path}", method=method)
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.read()


def _calls_in_flight(admin: str) -> int:
    """Requests open on the app's listener (`ingress_http`, pyvoy's stat prefix; the admin
    API's own, this one, not counted)."""
    found = json.loads(
        _admin(admin, "/stats?filter=^http.ingress_http.downstream_rq_active$&format=json")
    )
    return sum(stat.get("value", 0) for stat in found["stats"])


async def _drain(server: PyvoyServer, grace_s: float) -> None:
    """Envoy's listeners drained, then until no call is in flight or `grace_s` has passed."""
    admin = kserve_internals.envoy_admin_address(server)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    try:
        await asyncio.to_thread(_admin, admin, "/drain_listeners?graceful", "POST")
        while loop.time() < deadline and await asyncio.to_thread(_calls_in_flight, admin):
            await asyncio.sleep(POLL_S)
    except OSError:  # Envoy gone (killed with the rest): nothing left to drain.
        pass


class _Server(PyvoyServer):
    """pyvoy's server with REST's --read_timeout_seconds in Envoy's configuration (Envoy's
    `request_timeout`: the whole request within it, else 408): a half-sent call otherwise held
    its stream until Envoy's 5-minute idle timeout. pyvoy starts Envoy with what this public
    method returns."""

    def __init__(self, *args, read_timeout_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_timeout_s = read_timeout_s

    def get_envoy_config(self) -> dict:
        config = super().get_envoy_config()
        for listener in config["static_resources"]["listeners"]:
            for chain in listener["filter_chains"]:
                for found in chain["filters"]:
                    if found["name"] == "envoy.filters.network.http_connection_manager":
                        found["typed_config"]["request_timeout"] = f"{self.read_timeout_s}s"
        return config


async def _serve(port: int, settings: dict, grace_s: float, read_timeout_s: float) -> int:
    stopped_by: list[int] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda sig=sig: (stopped_by.append(sig), stop.set()))
    server = _Server(
        APP,
        read_timeout_s=read_timeout_s,
        address="0.0.0.0",
        port=port,
        lifespan=True,
        additional_envoy_args=ENVOY_ARGS,
        env={ENV: json.dumps(settings)},
        stdout=None,  # The server's log.
        stderr=None,
    )
    stopping = asyncio.ensure_future(stop.wait())
    starting = asyncio.ensure_future(server.start())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # Stopped while the models load: Envoy stopped with it.
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        return 128 + stopped_by[0]
    if starting.exception() is not None:
        if not isinstance(starting.exception(), StartupError):
            raise starting.exception()
        return 128 + stopped_by[0] if stopped_by else 1  # The app said why (or was stopped).
    ended = asyncio.ensure_future(server.wait())
    await asyncio.wait({ended, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if ended.done():  # Envoy died (128 + its signal) or ended by itself.
        code = ended.result() or 0
        if code < 0:
            logging.warning("the gRPC worker's Envoy was killed by signal %d", -code)
        return 128 - code if code < 0 else code
    await _drain(server, grace_s)
    await server.stop()
    return 128 + stopped_by[0]


def serve(port: int, settings: dict, grace_s: float, read_timeout_s: float) -> int:
    """Runs Envoy with the app (`settings` in ENV) until a stop signal (then 128 + its number)
    or Envoy's end (its status as a shell reads it; 1 when the app did not start). In a process
    group of its own, with Envoy: a Ctrl-C (SIGINT to the terminal's group) reached Envoy itself,
    which quit with its calls in flight, where the supervisor's SIGTERM here drains first."""
    os.setpgid(0, 0)
    return asyncio.run(_serve(port, settings, grace_s, read_timeout_s))
