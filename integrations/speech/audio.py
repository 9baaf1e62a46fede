"""Decoding voice notes to 16 kHz mono PCM with Debian's ffmpeg, within limits.

Every channel's format goes through the same path: WeChat's AMR (and Ogg
Speex), Telegram's OGG/Opus, the mini-program's mp3 and aac/m4a, plus wav.
AMR is the exception in one respect: its frames are walked here first (a
corrupt file is refused and an over-long one measured without decoding), and
sox, not ffmpeg, decodes it (see ``decode``).
The bytes are written to a private temporary file (mp4/m4a needs a seekable
input), ffmpeg runs with a wall-clock timeout and writes raw s16le to a pipe,
and decoding stops just past the length limit so an hour-long file costs no
more than a minute-long one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from bot.errors import AudioTooLarge, AudioTooLong, AudioUnreadable, SpeechUnavailable

__all__ = ["SAMPLE_RATE", "DecodedAudio", "FFmpegDecoder", "amr_duration"]

SAMPLE_RATE = 16_000

# File name suffixes that help ffmpeg's probing, by the format hints channels send.
_SUFFIXES = {
    "amr": ".amr", "amr-nb": ".amr", "amr-wb": ".awb", "speex": ".spx", "spx": ".spx",
    "ogg": ".ogg", "oga": ".ogg", "opus": ".ogg", "mp3": ".mp3", "aac": ".aac",
    "m4a": ".m4a", "mp4": ".m4a", "wav": ".wav", "webm": ".webm", "flac": ".flac",
}


# AMR storage format (RFC 4867 §5): a magic line, then frames of one header byte
# (frame type in bits 6-3, quality bit 2, the rest zero) and a payload whose size
# the frame type fixes. None: a reserved type, which no encoder writes.
_AMR_MAGIC = {b"#!AMR\n": "amr-nb", b"#!AMR-WB\n": "amr-wb"}
_AMR_PAYLOAD = {
    "amr-nb": (12, 13, 15, 17, 19, 20, 26, 31, 5, None, None, None, None, None, None, 0),
    "amr-wb": (17, 23, 32, 36, 40, 46, 50, 58, 60, 5, None, None, None, None, 0, 0),
}
_AMR_FRAME_SECONDS = 0.02


def amr_duration(audio: bytes) -> tuple[str, float] | None:
    """(variant, seconds) of a well-formed single-channel AMR file; None if not AMR.

    Raises AudioUnreadable for AMR whose frames do not add up: a corrupt or
    truncated file is refused here, before any decoder sees it.
    """
    found = next((pair for pair in _AMR_MAGIC.items() if audio.startswith(pair[0])), None)
    if found is None:
        return None
    magic, variant = found
    sizes = _AMR_PAYLOAD[variant]
    position, frames = len(magic), 0
    while position < len(audio):
        header = audio[position]
        size = sizes[(header >> 3) & 0x0F]
        if header & 0x83 or size is None or position + 1 + size > len(audio):
            raise AudioUnreadable(f"corrupt {variant} audio (bad frame {frames + 1})")
        position += 1 + size
        frames += 1
    if frames == 0:
        raise AudioUnreadable(f"the {variant} audio has no frames")
    return variant, frames * _AMR_FRAME_SECONDS


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    samples: np.ndarray  # float32 in [-1, 1], mono, SAMPLE_RATE
    duration_seconds: float


class FFmpegDecoder:
    def __init__(
        self,
        *,
        max_bytes: int = 8 * 1024 * 1024,
        timeout_seconds: float = 20.0,
        ffmpeg: str | None = None,
        sox: str | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self._ffmpeg = ffmpeg
        self._sox_binary = sox

    def _binary(self) -> str:
        binary = self._ffmpeg or shutil.which("ffmpeg")
        if not binary:
            raise SpeechUnavailable("ffmpeg is not installed (apt-get install ffmpeg)")
        return binary

    def _sox(self) -> str:
        binary = self._sox_binary or shutil.which("sox")
        if not binary:
            raise SpeechUnavailable("sox is not installed (apt-get install sox libsox-fmt-all)")
        return binary

    def decode(
        self, audio: bytes, *, audio_format: str | None = None, max_seconds: float = 60.0
    ) -> DecodedAudio:
        """PCM samples of ``audio``; AudioTooLarge/AudioTooLong/AudioUnreadable when refused."""
        if len(audio) > self.max_bytes:
            raise AudioTooLarge(len(audio), self.max_bytes, max_seconds)
        if not audio.strip(b"\0"):
            raise AudioUnreadable("the audio is empty")
        if audio[:10].lstrip(b"\x02").startswith(b"#!SILK"):
            raise AudioUnreadable("SILK v3 audio (from the WeChat app's files) is not supported")
        suffix = _SUFFIXES.get((audio_format or "").lower().lstrip("."), ".bin")
        # A little past the limit, so "over the limit" can be told from "exactly at it".
        cap = max_seconds + 0.5
        amr = amr_duration(audio)
        if amr is not None and amr[1] > max_seconds:
            raise AudioTooLong(round(amr[1], 2), max_seconds)
        with tempfile.TemporaryDirectory(prefix="minhu-audio-") as folder:
            source = os.path.join(folder, f"note{suffix}")
            with open(source, "wb") as stream:
                stream.write(audio)
            if amr is not None:
                # Debian's ffmpeg decodes AMR natively but drops comfort-noise (DTX)
                # frames, shortening the note; sox's opencore decoder keeps them.
                binary = self._sox()
                command = [
                    binary, "-q", "-t", amr[0], source, "-t", "raw", "-e", "signed-integer",
                    "-b", "16", "-c", "1", "-r", str(SAMPLE_RATE), "-", "trim", "0", f"{cap:.3f}",
                ]
            else:
                binary = self._binary()
                command = [
                    binary, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
                    "-i", source, "-t", f"{cap:.3f}", "-vn", "-ac", "1",
                    "-ar", str(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1",
                ]
            try:
                done = subprocess.run(  # noqa: S603 - our own ffmpeg command line
                    command, capture_output=True, timeout=self.timeout_seconds, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise AudioUnreadable(
                    f"decoding took longer than {self.timeout_seconds:g} s"
                ) from exc
            except OSError as exc:  # the binary vanished or is not executable
                raise SpeechUnavailable(f"cannot run {binary}: {exc}") from exc
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit status {done.returncode}"
            raise AudioUnreadable(f"cannot decode the audio: {reason}")
        pcm = done.stdout[: len(done.stdout) // 2 * 2]
        duration = len(pcm) / 2 / SAMPLE_RATE
        if duration < 0.05:
            raise AudioUnreadable("the audio holds no sound")
        if duration > max_seconds:
            # ``duration`` is a lower bound here: decoding stopped at the cap.
            raise AudioTooLong(round(duration, 2), max_seconds)
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        return DecodedAudio(samples=samples, duration_seconds=duration)
