"""Training and serving the Rasa project from the app's side.

Rasa 3.6.21 lives in its own Python 3.10 virtualenv (``.venv-rasa``, built
by ``scripts/rasa-env.sh``); this module drives its command line.

- :func:`train` trains only when no model exists for the current inputs:
  models are named by a hash of everything that shapes them (pipeline,
  training data, lookup tables, jieba dictionary, custom components, Rasa's
  pins). The newest successful model is recorded in ``models/LAST_GOOD``; a
  failed training leaves it in place.
- :class:`RasaServer` runs ``rasa run --enable-api`` on loopback and waits
  until the model is loaded.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "PROJECT_DIR",
    "RasaServer",
    "TrainingFailed",
    "current_model",
    "free_port",
    "inputs_hash",
    "rasa_executable",
    "running_rasa",
    "train",
]

PROJECT_DIR = Path(__file__).resolve().parent / "rasa"
REPO_DIR = PROJECT_DIR.parents[1]
MODELS_DIR = PROJECT_DIR / "models"
LAST_GOOD = MODELS_DIR / "LAST_GOOD"
# Inputs of a model, relative to the project; anything else there (models,
# caches, results) does not change what training produces.
_INPUT_GLOBS = ("config.yml", "*.yml", "data/**/*", "jieba/**/*", "minhu_components/**/*.py")
_REQUIREMENTS = REPO_DIR / "nlu" / "requirements-rasa.txt"
# The Rasa server takes about a minute to load TensorFlow and the model (domain.md §5).
SERVER_START_TIMEOUT = 240.0


class TrainingFailed(RuntimeError):
    pass


def rasa_executable() -> Path:
    configured = os.environ.get("MINHU_RASA_EXECUTABLE")
    path = Path(configured) if configured else REPO_DIR / ".venv-rasa" / "bin" / "rasa"
    if not path.exists():
        raise FileNotFoundError(
            f"no Rasa at {path}: run scripts/rasa-env.sh (it needs Python 3.10) "
            "or set MINHU_RASA_EXECUTABLE"
        )
    return path


def inputs_hash(project: Path = PROJECT_DIR) -> str:
    digest = hashlib.sha256()
    files: set[Path] = set()
    for pattern in _INPUT_GLOBS:
        files.update(p for p in project.glob(pattern) if p.is_file())
    for path in sorted(files):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(project)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    if _REQUIREMENTS.exists():
        digest.update(_REQUIREMENTS.read_bytes())
    return digest.hexdigest()[:16]


def current_model() -> Path | None:
    """The last model that trained successfully, if any."""
    if LAST_GOOD.exists():
        model = MODELS_DIR / LAST_GOOD.read_text().strip()
        if model.exists():
            return model
    return None


def train(
    *, force: bool = False, progress: Callable[[str], None] = print
) -> tuple[Path, bool]:
    """Train unless a model for the current inputs exists; returns (model, trained)."""
    name = f"minhu-nlu-{inputs_hash()}"
    model = MODELS_DIR / f"{name}.tar.gz"
    if model.exists() and not force:
        progress(f"model for these inputs exists: {model.name} (training skipped)")
        _record_last_good(model)
        return model, False
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    command = [
        str(rasa_executable()), "train", "nlu",
        "--config", "config.yml", "--nlu", "data",
        "--out", str(MODELS_DIR), "--fixed-model-name", name,
    ]
    progress(f"training {name} (Rasa {PROJECT_DIR}) ...")
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=_rasa_env(),
    )
    assert process.stdout is not None
    tail: list[str] = []
    shown_epochs = ""
    for line in process.stdout:
        line = line.rstrip()
        tail = [*tail[-40:], line]
        epochs = _EPOCHS.search(line)
        if epochs:
            # Progress bars redraw many times per epoch: show each tenth once.
            done, total = int(epochs.group(1)), int(epochs.group(2))
            step = f"{done * 10 // max(total, 1)}"
            if step != shown_epochs:
                shown_epochs = step
                progress(f"  epochs {done}/{total}")
        elif _worth_showing(line):
            progress(f"  {line[-160:]}")
    if process.wait() != 0 or not model.exists():
        detail = "\n".join(tail[-20:])
        last = current_model()
        kept = f"; keeping {last.name}" if last else ""
        raise TrainingFailed(f"rasa train failed (exit {process.returncode}){kept}:\n{detail}")
    _record_last_good(model)
    size = model.stat().st_size / 1e6
    progress(f"trained {model.name} in {time.monotonic() - started:.0f} s ({size:.1f} MB)")
    return model, True


_EPOCHS = re.compile(r"Epochs:.*?\|\s*(\d+)/(\d+)")


def _worth_showing(line: str) -> bool:
    return bool(line) and ("INFO" in line or "Your Rasa model" in line
                           or "Training" in line or "Error" in line)


def _record_last_good(model: Path) -> None:
    LAST_GOOD.write_text(model.name + "\n")


def _rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # The custom components live in the project directory.
    env["PYTHONPATH"] = str(PROJECT_DIR)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RasaServer:
    """``rasa run --enable-api`` on 127.0.0.1, started and stopped by us."""

    model: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = SERVER_START_TIMEOUT) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(rasa_executable()), "run", "--enable-api", "-i", "127.0.0.1",
             "-p", str(self.port), "-m", str(self.model)],
            cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT, env=_rasa_env(),
            start_new_session=True,
        )
        log.close()
        self.wait_ready(timeout=timeout)

    def wait_ready(self, *, timeout: float = SERVER_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"rasa exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                status = httpx.get(f"{self.url}/status", timeout=2.0)
                if status.status_code == 200 and status.json().get("model_file"):
                    return
            except httpx.TransportError:
                pass
            time.sleep(1.0)
        self.stop()
        raise TimeoutError(f"rasa was not ready after {timeout:.0f} s; see {self.log_path}")

    def kill(self) -> None:
        """Stop abruptly, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def running_rasa(
    *, port: int | None = None, log_dir: Path | None = None,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> Iterator[RasaServer]:
    """A Rasa server with the current model (trained first if there is none)."""
    model = current_model()
    if model is None or not model.name.endswith(f"{inputs_hash()}.tar.gz"):
        model, _ = train(progress=progress)
    server = RasaServer(
        model=model, port=port or free_port(),
        log_path=(log_dir or REPO_DIR / "var") / "rasa-server.log",
    )
    progress(f"starting rasa on {server.url} with {model.name} ...")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def have_rasa() -> bool:
    try:
        rasa_executable()
    except FileNotFoundError:
        return False
    return shutil.which(str(rasa_executable())) is not None
