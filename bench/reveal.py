#!/usr/bin/env python3
"""Time per character of showing hidden characters (``escape.reveal``) and escaping,
at growing text sizes: linear work shows as a flat ns/char column.

Cases: clean ASCII (the fast path), one run of zero width spaces, a zero width
space after every letter (a marker each), an emoji ZWJ chain (kept), a
variation selector after every letter (kept), the same selector twice after
every letter, and a random mix of every class. Sizes grow 10x; each size of
every case is measured in the same rounds, interleaved, and the best of the
rounds is shown (the machine is shared: ratios are what counts).

Usage: python bench/reveal.py [--rounds 5] [--max-chars 1000000]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from shipper.sinks.escape import REVEALED, escape_slack, escape_teams, reveal


def cases(size: int) -> dict[str, str]:
    rng = random.Random(12)
    pool = [chr(low) for low, _, _ in REVEALED] + list("ab <>&*_\n") + ["👩\u200d💻", "ℹ\ufe0f"]
    return {
        "ascii": ("user.update_roles " * size)[:size],
        "zwsp run": "\u200b" * size,
        "zwsp each": "a\u200b" * (size // 2),
        "emoji ZWJ": "👩\u200d" * (size // 2),
        "selector": "a\ufe0f" * (size // 2),
        "2 selectors": "a\ufe0f\ufe0e" * (size // 3),
        "mix": "".join(rng.choice(pool) for _ in range(size)),
    }


def timed(function: Callable[[str], str], text: str) -> float:
    start = time.perf_counter()
    function(text)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-chars", type=int, default=1_000_000)
    args = parser.parse_args()
    sizes = [size for size in (1_000, 10_000, 100_000, 1_000_000) if size <= args.max_chars]
    functions: dict[str, Callable[[str], str]] = {
        "reveal": reveal,
        # Past the cache: the escapers' own work on a new text every time.
        "escape_slack": escape_slack.__wrapped__,
        "escape_teams": escape_teams.__wrapped__,
    }
    texts = {size: cases(size) for size in sizes}
    best: dict[tuple[str, str, int], float] = {}
    for _ in range(args.rounds):
        for name in texts[sizes[0]]:
            for size in sizes:
                for label, function in functions.items():
                    text = texts[size][name]
                    key = (label, name, size)
                    best[key] = min(best.get(key, float("inf")), timed(function, text))
    for label in functions:
        print(f"\n{label}: ns per char")
        print(f"{'case':<12}" + "".join(f"{size:>12,}" for size in sizes))
        for name in texts[sizes[0]]:
            row = [best[(label, name, size)] * 1e9 / len(texts[size][name]) for size in sizes]
            print(f"{name:<12}" + "".join(f"{value:>12.1f}" for value in row))


if __name__ == "__main__":
    main()
