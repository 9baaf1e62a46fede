"""``minhu asr transcribe FILE`` and ``minhu asr eval DIR``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.wiring.cli import main
from tests.speech_support import AISHELL, AISHELL_CLIPS, MODEL_DIR, require_asr_assets

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _model_here(monkeypatch: pytest.MonkeyPatch) -> None:
    require_asr_assets()
    monkeypatch.setenv("MINHU_ASR_MODEL_DIR", str(MODEL_DIR))
    monkeypatch.setenv("MINHU_ASR_MODEL", "base")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_transcribe_prints_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asr", "transcribe", str(AISHELL_CLIPS[1])]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    assert out.count("\n") == 1
    assert "调整中" in out


def test_transcribe_refuses_corrupt_audio_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.amr"
    broken.write_bytes(b"#!AMR\n" + b"\xff" * 40)
    assert main(["asr", "transcribe", str(broken)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: corrupt amr-nb audio")


def test_eval_reports_cer_and_rtf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figures = tmp_path / "eval.json"
    assert main(["asr", "eval", str(AISHELL), "--json", str(figures)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out[:2]] == [p.name for p in AISHELL_CLIPS]
    assert out[2].startswith("2 clips, 26 reference characters: CER ")
    assert " RTF " in out[2]
    report = json.loads(figures.read_text(encoding="utf-8"))
    assert report["clips"] == 2
    assert report["cer"] <= 0.15
    assert report["rtf"] > 0
    assert report["engine"] == "faster-whisper:base-int8"


def test_eval_of_a_folder_without_transcripts_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.wav").write_bytes(AISHELL_CLIPS[0].read_bytes())
    assert main(["asr", "eval", str(tmp_path)]) == 1
    assert "no audio file" in capsys.readouterr().err


def test_a_missing_model_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MINHU_ASR_MODEL_DIR", str(tmp_path))
    assert main(["asr", "transcribe", str(AISHELL_CLIPS[0])]) == 1
    assert "scripts/asr-env.sh" in capsys.readouterr().err
