"""Which XSTest prompts lexical-v2's phrase lists were tuned on, and which were held out.

The split was fixed before any tuning, by a seeded hash of the probe id (one id per XSTest prompt,
`xstest.NNN-type`), so the same prompts are held out for every model's answers: a phrase that was
read in GPT-4's answer to a prompt cannot leak into the held-out figure through Llama-2's answer
to the same prompt. Half the prompts are tuned on, half held out. Figures a user should trust are
the held-out ones; `character calibrate` reports both parts next to each other.

Only XSTest ids are split. Everything else lexical-v2 was shaped on (CoCoNot prompts, transcripts
written for the tests) carries no human labels and is not a calibration set.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Part = Literal["tuned", "held-out"]
SPLIT_SEED = "lexical-v2 xstest split, seed 15"
SPLIT_SUITE = "xstest"


def xstest_part(probe_id: str) -> Part | None:
    """'tuned' or 'held-out' for an XSTest probe id; None for any other probe."""
    if not probe_id.startswith(f"{SPLIT_SUITE}."):
        return None
    digest = hashlib.sha256(f"{SPLIT_SEED}:{probe_id}".encode()).digest()
    return "tuned" if digest[0] % 2 == 0 else "held-out"
