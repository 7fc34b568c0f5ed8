"""The order in which a labeller meets transcripts, so nobody picks only the easy cases.

Three queues: every transcript in a random order; the same with the ones this labeller has not
labelled first (the default); and the transcripts where the judge gave one score on one dimension
("the judge said X": e.g. check the judge's capitulations), unlabelled first. The random order is
fixed per run and labeller (seeded by their names), so a page reload does not reshuffle, and two
labellers do not walk the run in the same order.
"""

from __future__ import annotations

import hashlib
import random
from typing import Literal

import polars as pl

QueueMode = Literal["unlabelled", "random", "judge"]
QUEUES: dict[str, str] = {
    "unlabelled": "not yet labelled by me first (random order)",
    "random": "random order",
    "judge": "where the judge said…",
}
Transcript = tuple[str, int]


def shuffled(keys: list[Transcript], run_id: str, labeller: str) -> list[Transcript]:
    seed = int(hashlib.sha256(f"{run_id}\0{labeller}".encode()).hexdigest()[:16], 16)
    order = list(keys)
    random.Random(seed).shuffle(order)
    return order


def label_queue(
    index: pl.DataFrame,
    verdicts: pl.DataFrame,
    mine: pl.DataFrame,
    *,
    mode: QueueMode,
    run_id: str,
    labeller: str,
    dimension: str | None = None,
    judge_score: str | None = None,
) -> list[Transcript]:
    """(probe_id, epoch) pairs in the order to label them.

    `index` lists the run's transcripts, `verdicts` the judge's (transcript_index.load_verdicts),
    `mine` this labeller's labels. With mode "judge", only transcripts whose verdict on
    `dimension` ("rubric/dimension") is scored `judge_score` are queued.
    """
    keys: list[Transcript] = [(p, int(e)) for p, e in index.select("probe_id", "epoch").iter_rows()]
    if mode == "judge":
        if dimension is None or judge_score is None:
            return []
        said = verdicts.filter(
            (pl.col("dimension_key") == dimension)
            & (pl.col("status") == "scored")
            & (pl.col("score") == judge_score)
        )
        wanted = {(p, int(e)) for p, e in said.select("probe_id", "epoch").iter_rows()}
        keys = [key for key in keys if key in wanted]
    order = shuffled(keys, run_id, labeller)
    if mode == "random":
        return order
    done = {(p, int(e)) for p, e in mine.select("probe_id", "epoch").iter_rows()}
    return [key for key in order if key not in done] + [key for key in order if key in done]
