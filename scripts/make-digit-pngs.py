#!/usr/bin/env python3
"""Writes examples/digits/<d>.png: the first image of each digit 0-9 in the
MNIST test set (data/mnist/t10k-*), as 28x28 8-bit grayscale PNGs, white digit on
black like the training data. Pure standard library (zlib for PNG).

    python3 scripts/make-digit-pngs.py
"""
import gzip
import struct
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def png_gray(width, height, pixels):
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(pixels[r * width:(r + 1) * width]) for r in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def main():
    images = gzip.open(ROOT / "data/mnist/t10k-images-idx3-ubyte.gz").read()[16:]
    labels = gzip.open(ROOT / "data/mnist/t10k-labels-idx1-ubyte.gz").read()[8:]
    out = ROOT / "examples/digits"
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for i, label in enumerate(labels):
        if label not in done:
            done[label] = i
            (out / f"{label}.png").write_bytes(png_gray(28, 28, images[i * 784:(i + 1) * 784]))
        if len(done) == 10:
            break
    print("test-set indices:", dict(sorted(done.items())))


if __name__ == "__main__":
    main()
