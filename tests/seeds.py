"""The seed of a test's random examples: a recorded one, so every run tries the same ones, or
VARIABLE=random for a nightly-style search (the drawn seed is printed, so it can be repeated)."""

from __future__ import annotations

import os
import random


def chosen_seed(variable: str, recorded: int, what: str) -> int:
    chosen = os.environ.get(variable, str(recorded))
    if chosen == "random":
        drawn = random.SystemRandom().randrange(2**32)
        print(f"{what}: {variable}={drawn} repeats these examples")
        return drawn
    return int(chosen)
