"""The browser demo's local server: the page (web/), LiteRT.js (node_modules/@litertjs/) and the
latest published version of an export, read-only, on 127.0.0.1.

    python -m export.web --export_dir exports/dae [--port 8000]

URL paths: / and /<file> from web/, /lib/<path> from node_modules/@litertjs/, /export/<path>
from versions/<v>/ (model.json, samples.json and tflite/ only). Nothing else is served: no
directory listings, no path outside those folders."""

import errno
import os
import posixpath
import urllib.parse
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from absl import app
from absl.flags import adopt_module_key_flags

from keras_dae import flags
from keras_dae.core.errors import ExportError, one_line_errors
from keras_dae.export import layout

FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB_DIR = os.path.join(ROOT, "web")
LIB_DIR = os.path.join(ROOT, "node_modules", "@litertjs")
EXPORT_FILES = (layout.MODEL_INFO, layout.SAMPLES, "tflite")  # What the page may read.
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".tflite": "application/octet-stream",
    ".png": "image/png",
}


def served_folders(export_dir: str) -> dict[str, str]:
    """URL prefix -> folder; one-line ExportError if the export or LiteRT.js is missing."""
    version = layout.latest_version(export_dir)
    if version is None:
        raise ExportError(
            f"{export_dir}: no published export version (run `python -m export` first)"
        )
    record = layout.version_dir(export_dir, version)
    for name in (layout.MODEL_INFO, layout.SAMPLES, os.path.join("tflite", "float32.tflite")):
        if not os.path.isfile(os.path.join(record, name)):
            raise ExportError(f"{record}: no {name} (re-export with this version of the code)")
    if not os.path.isfile(os.path.join(LIB_DIR, "core", "package.json")):
        raise ExportError(f"{LIB_DIR}/core: LiteRT.js is not installed (run `npm ci`)")
    return {"": WEB_DIR, "lib": LIB_DIR, "export": record}


def resolve(folders: dict[str, str], url_path: str) -> str | None:
    """The file a URL path (/...) names, or None: no '..', no hidden names, never outside its
    folder."""
    parts = urllib.parse.unquote(urllib.parse.urlsplit(url_path).path).split("/")[1:]
    if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        return None if parts != [""] else os.path.join(WEB_DIR, "index.html")
    prefix = parts[0] if parts[0] in folders and len(parts) > 1 else ""
    inner = parts[1:] if prefix else parts
    if prefix == "export" and inner[0] not in EXPORT_FILES:
        return None
    folder = os.path.realpath(folders[prefix])
    path = os.path.realpath(os.path.join(folder, *inner))
    inside = os.path.commonpath([folder, path]) == folder
    return path if inside and os.path.isfile(path) else None


class Handler(BaseHTTPRequestHandler):
    """GET and HEAD of the served files; everything else is refused."""

    def __init__(self, *args, folders: dict[str, str], **kwargs):
        self.folders = folders
        super().__init__(*args, **kwargs)

    def send_file(self, body: bool) -> None:
        if not urllib.parse.urlsplit(self.path).path.startswith("/"):  # `*`, `?x`
            self.send_error(HTTPStatus.BAD_REQUEST, "the request target must be a path")
            return
        path = resolve(self.folders, self.path)
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(HTTPStatus.OK)
        self.send_header(
            "Content-Type", TYPES.get(posixpath.splitext(path)[1], "application/octet-stream")
        )
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        # Cross-origin isolation: performance.now() at 5 us instead of 100 us (benchmarks/web.py).
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_GET(self):
        self.send_file(body=True)

    def do_HEAD(self):
        self.send_file(body=False)

    def log_message(self, format, *args):
        pass  # Quiet: the page loads a few dozen files.


def make_server(export_dir: str, port: int) -> tuple[ThreadingHTTPServer, str]:
    """The server bound to 127.0.0.1:`port` and the version folder it serves; one-line
    ExportError if the port is taken."""
    folders = served_folders(export_dir)
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, folders=folders)), folders[
            "export"
        ]
    except OSError as e:
        problem = (
            "port in use (pick another with --port)" if e.errno == errno.EADDRINUSE else e.strerror
        )
        raise ExportError(f"127.0.0.1:{port}: {problem}") from None


def main(argv):
    prog = flags.program_name(argv)
    with one_line_errors(prog):
        if len(argv) > 1:
            raise ExportError(f"unexpected argument(s) {' '.join(argv[1:])!r} (see --help)")
        server, record = make_server(FLAGS.export_dir, FLAGS.port)
    print(
        f"serving {record} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def run():
    """The `keras-dae-web` command."""
    flags.define_web_flags()
    adopt_module_key_flags(flags)
    app.run(main, flags_parser=flags.parse_or_exit)


if __name__ == "__main__":
    run()
