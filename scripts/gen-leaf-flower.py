#!/usr/bin/env python3
"""Generates examples/leaf-flower.csv: the classic "leaf or flower?" toy problem.

Each row is one object seen by a camera and weighed in water:
    red, green, blue   mean colour, integers 0-255
    volume             volume in cm^3, one decimal
    label              "leaf" or "flower"

Leaves are green-dominant and small-ish. Flowers are red, blue or yellow-ish
and usually larger. The classes are cleanly separable by a linear rule
(green - red - blue is at least +25 for every leaf and at most -25 for every
flower, a wide margin), so a 4-3-2 softmax network reaches 100% accuracy on
standardised inputs. No single feature separates them: green overlaps
(yellow flowers are green too), red overlaps (blue flowers), blue overlaps
(red and yellow flowers) and volume overlaps. The script checks all of this
and fails if a change breaks it.

100 leaves and 100 flowers (34 red, 33 blue, 33 yellow), shuffled, seed 42.
Pure Python standard library; the output is byte-for-byte reproducible:

    python3 scripts/gen-leaf-flower.py            # writes examples/leaf-flower.csv
    python3 scripts/gen-leaf-flower.py out.csv    # writes elsewhere
"""

import os
import random
import sys

SEED = 42
N_LEAVES = 100
FLOWER_KINDS = [("red", 34), ("blue", 33), ("yellow", 33)]
MARGIN = 25  # green - red - blue >= MARGIN for leaves, <= -MARGIN for flowers


def leaf(rng):
    while True:
        r = rng.randint(20, 100)
        b = rng.randint(10, 80)
        g = rng.randint(110, 235)
        if g - r - b >= MARGIN:
            vol = round(rng.uniform(1.0, 30.0), 1)
            return r, g, b, vol


def flower(rng, kind):
    while True:
        if kind == "red":
            r = rng.randint(170, 255)
            g = rng.randint(20, 110)
            b = rng.randint(30, 130)
        elif kind == "blue":
            r = rng.randint(40, 130)
            g = rng.randint(40, 120)
            b = rng.randint(160, 255)
        else:  # yellow: red and green high, green a little below red
            r = rng.randint(200, 255)
            g = r - rng.randint(10, 60)
            b = rng.randint(10, 80)
        if g - r - b <= -MARGIN:
            vol = round(rng.uniform(8.0, 80.0), 1)
            return r, g, b, vol


def check(rows):
    leaves = [r for r in rows if r[4] == "leaf"]
    flowers = [r for r in rows if r[4] == "flower"]
    for i, name in enumerate(["red", "green", "blue", "volume"]):
        lo_l, hi_l = min(r[i] for r in leaves), max(r[i] for r in leaves)
        lo_f, hi_f = min(r[i] for r in flowers), max(r[i] for r in flowers)
        # The ranges must overlap, so no threshold on this feature alone works.
        assert lo_l < hi_f and lo_f < hi_l, f"{name} alone separates the classes"
    for r in leaves:
        assert r[1] - r[0] - r[2] >= MARGIN, r
    for r in flowers:
        assert r[1] - r[0] - r[2] <= -MARGIN, r


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "examples", "leaf-flower.csv")
    rng = random.Random(SEED)
    rows = [(*leaf(rng), "leaf") for _ in range(N_LEAVES)]
    for kind, n in FLOWER_KINDS:
        rows += [(*flower(rng, kind), "flower") for _ in range(n)]
    rng.shuffle(rows)
    check(rows)
    with open(out, "w", newline="\n") as f:
        f.write("red,green,blue,volume,label\n")
        for r, g, b, vol, label in rows:
            f.write(f"{r},{g},{b},{vol:.1f},{label}\n")
    print(f"wrote {len(rows)} rows to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
