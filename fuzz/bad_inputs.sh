#!/usr/bin/env bash
# fuzz/bad_inputs.sh - feeds the tools the bad inputs people actually hand them and prints, as a
# Markdown table, what the user sees (the tool's last line on stderr and its exit status). The
# table in docs/hardening.md comes from this script.
#
#   fuzz/bad_inputs.sh [build dir]      (default: build; needs bin/train, bin/prune)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/${1:-build}/bin
W=$(mktemp -d /tmp/trim-bad-inputs-XXXXXX)
trap 'rm -rf "$W"' EXIT
export TRIM_BLAS_REEXEC=0 OMP_NUM_THREADS=1

# A tiny model (16 px, 1 channel, 10 classes) and tiny data sets: IDX, image folders, ImageNet val.
python3 - "$W" <<'PY'
import os, struct, sys, random
w = sys.argv[1]
random.seed(1)
def idx(dir, n, labels_n=None):
    os.makedirs(dir, exist_ok=True)
    for split, count in (("train", n), ("t10k", n // 4)):
        with open(f"{dir}/{split}-images-idx3-ubyte", "wb") as f:
            f.write(struct.pack(">IIII", 0x803, count, 16, 16) + bytes(random.randrange(256) for _ in range(count * 256)))
        ln = count if labels_n is None or split == "t10k" else labels_n
        with open(f"{dir}/{split}-labels-idx1-ubyte", "wb") as f:
            f.write(struct.pack(">II", 0x801, ln) + bytes(random.randrange(10) for _ in range(ln)))
def bmp(path, size=16):
    row = (3 * size + 3) // 4 * 4
    pixels = b"".join(bytes(random.randrange(256) for _ in range(3 * size)) + b"\0" * (row - 3 * size) for _ in range(size))
    head = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, size, size, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    with open(path, "wb") as f:
        f.write(head + info + pixels)
idx(f"{w}/idx", 200)
idx(f"{w}/idx-short-labels", 200, labels_n=150)
for c in ("cat", "dog"):
    os.makedirs(f"{w}/images/{c}", exist_ok=True)
    for i in range(6):
        bmp(f"{w}/images/{c}/{i}.bmp")
os.makedirs(f"{w}/images-empty-class/cat"); os.makedirs(f"{w}/images-empty-class/dog")
for i in range(4):
    bmp(f"{w}/images-empty-class/cat/{i}.bmp")
for c in ("n01440764", "n01443537"):
    os.makedirs(f"{w}/imagenet/train/{c}", exist_ok=True)
    for i in range(4):
        bmp(f"{w}/imagenet/train/{c}/{i}.bmp")
os.makedirs(f"{w}/imagenet/val")
for i in range(1, 4):
    bmp(f"{w}/imagenet/val/ILSVRC2012_val_{i:08d}.bmp")
with open(f"{w}/imagenet/val.txt", "w") as f:
    f.write("ILSVRC2012_val_00000001.JPEG 0\nILSVRC2012_val_00000002.JPEG 1\n")
PY
# A corrupt JPEG: a real one (a fuzz seed without its 3 parameter bytes), cut in half.
tail -c +4 fuzz/corpus/image/valid-16x12x3.jpg | head -c 300 >"$W/images/cat/broken.jpg"

cat >"$W/tiny.model" <<'M'
[input]
channels=1
height=16
width=16
[conv]
name=c1
filters=4
size=3
pad=1
[relu]
[globalavgpool]
[flatten]
[linear]
name=fc
out=10
M
sed 's/channels=1/channels=3/; s/out=10/out=2/' "$W/tiny.model" >"$W/rgb.model"
python3 - "$W" <<'PY'
import struct, sys, zlib
w = sys.argv[1]
def weights(channels, classes):  # docs/model-format.md
    tensors = [("c1.weight", [4, channels, 3, 3]), ("c1.bias", [4]), ("fc.weight", [classes, 4]), ("fc.bias", [classes])]
    out = bytearray(b"TRIMWTS1" + struct.pack("<II", 1, len(tensors)))
    for name, dims in tensors:
        out += struct.pack("<I", len(name)) + name.encode() + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}I", *dims)
        out += b"\0" * (-len(out) % 64)
        n = 1
        for d in dims: n *= d
        out += struct.pack(f"<{n}f", *([0.01] * n))
    return out + struct.pack("<I", zlib.crc32(bytes(out)))
out = weights(1, 10)
open(f"{w}/tiny.weights", "wb").write(out)
open(f"{w}/rgb.weights", "wb").write(weights(3, 2))
open(f"{w}/truncated.weights", "wb").write(out[: len(out) // 2])
open(f"{w}/badmagic.weights", "wb").write(b"TRIMWTS0" + out[8:])
PY
cp "$W/tiny.model" "$W/truncated.model"
cp "$W/tiny.model" "$W/badmagic.model"
sed 's/filters=4/filters=6/' "$W/tiny.model" >"$W/shape.model"
cp "$W/tiny.weights" "$W/shape.weights"
sed 's/^size=3/size=3\nstrid=2/' "$W/tiny.model" >"$W/typo.model"
cp "$W/tiny.weights" "$W/typo.weights"
printf '[model]\npath = %s\n[pruning]\nthreshhold = 1\n' "$W/tiny.model" >"$W/cfg.ini"
: >"$W/empty.ini"
touch "$W/notafolder"

row() {  # row <case> <command...>: runs the command, prints | case | exit | last stderr line |
  local what=$1
  shift
  local err status
  err=$("$@" 2>&1 >/dev/null)
  status=$?
  err=$(printf '%s\n' "$err" | grep -v '^\s*$' | grep -E 'error|warning' | tail -n 2 | sed "s#$W#...#g; s/|/\\\\|/g" | paste -sd ' ' -)
  printf '| %s | %s | `%s` |\n' "$what" "$status" "$err"
}
T=(--threads 1 --workers 1 --epochs 1 --quiet)
echo "| bad input | exit | what the user sees |"
echo "|---|---|---|"
row "truncated weight file" "$BIN/prune" --model "$W/truncated.model" --analyze
row "wrong magic in the weight file" "$BIN/prune" --model "$W/badmagic.model" --analyze
row "weights of another shape" "$BIN/prune" --model "$W/shape.model" --analyze
row "typo in a model description key" "$BIN/prune" --model "$W/typo.model" --analyze
row "unknown cfg.ini key" "$BIN/prune" --cfg "$W/cfg.ini"
row "cfg.ini without a model" "$BIN/prune" --cfg "$W/empty.ini"
row "corrupt JPEG in an image folder" "$BIN/train" --model "$W/rgb.model" --data "$W/images" "${T[@]}" --out "$W/o1"
row "corrupt JPEG, --strict" "$BIN/train" --model "$W/rgb.model" --data "$W/images" "${T[@]}" --strict --out "$W/o2"
row "empty class folder" "$BIN/train" --model "$W/rgb.model" --data "$W/images-empty-class" "${T[@]}" --out "$W/o3"
row "IDX: fewer labels than images" "$BIN/train" --model "$W/tiny.model" --data "$W/idx-short-labels" "${T[@]}" --out "$W/o4"
row "ImageNet val: label count mismatch" "$BIN/train" --model "$W/rgb.model" --data "$W/imagenet" "${T[@]}" --out "$W/o5"
mkdir -p "$W/full"
row "full disk (checkpoint on /dev/full)" bash -c 'ln -s /dev/full "$1/checkpoint.trim.tmp.$$" && exec "$2" "${@:3}"' _ "$W/full" \
  "$BIN/train" --model "$W/tiny.model" --data "$W/idx" "${T[@]}" --out "$W/full"
row "output folder below a regular file" "$BIN/train" --model "$W/tiny.model" --data "$W/idx" "${T[@]}" --out "$W/notafolder/run"
# A read-only output folder holding a finished epoch, resumed for one more: root ignores
# permissions, so that run drops to user nobody when the script runs as root.
"$BIN/train" --model "$W/tiny.model" --data "$W/idx" "${T[@]}" --out "$W/readonly" >/dev/null 2>&1
sum_before=$(md5sum <"$W/readonly/checkpoint.trim")
chmod -R a+rX "$W" && chmod 555 "$W/readonly"
as_user=()
[ "$(id -u)" = 0 ] && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
row "read-only output folder, --resume" "${as_user[@]}" "$BIN/train" --model "$W/tiny.model" --data "$W/idx" \
  --threads 1 --workers 1 --epochs 2 --quiet --out "$W/readonly" --resume
[ "$(md5sum <"$W/readonly/checkpoint.trim")" = "$sum_before" ] || echo "read-only output folder: the checkpoint changed" >&2
chmod 755 "$W/readonly"
