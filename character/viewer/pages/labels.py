"""Labels: score transcripts on the judge's scale, blind to the judge; then judge-vs-human agreement.

Labellers see what the judge was told (the probe's facts and the behaviour a good assistant
shows), walk a queue (unlabelled first, random, or where the judge gave one score) so they do not
pick the easy cases, and give the turn where a per-turn behaviour first appeared.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from character.analysis import viewer_links as links
from character.boundary.ids import LABELLER
from character.store.labels import Label, append_labels
from character.store.manifest import Manifest
from character.viewer import data, reading, session, url_state, widgets
from character.viewer.agreement import confusion_table, labeller_table, summary_table
from character.viewer.label_queue import QUEUES, label_queue
from character.viewer.probe_facts import facts
from character.viewer.render import escape_markdown
from character.viewer.scales import ScalePoint, describe, is_per_turn, question, scale_points
from character.viewer.transcript_index import score_options

KEY = "labels."
PAGE = links.LABELS_PAGE
STATE_KEYS = [KEY + "run", KEY + "queue", KEY + "judge_dimension", KEY + "judge_score"]
Transcript = tuple[str, int]


def labeller_name() -> str:
    if KEY + "name" not in st.session_state:
        st.session_state[KEY + "name"] = st.session_state[session.LABELLER]
    name = st.text_input("Your name (stored with every label)", key=KEY + "name").strip()
    st.session_state[session.LABELLER] = name
    return name


def queue_controls(verdicts: pl.DataFrame) -> tuple[str, str | None, str | None]:
    """The queue to walk: its mode and, for "the judge said", the dimension and score."""
    left, middle, right = st.columns([2, 1, 1])
    mode = left.radio(
        "Queue", list(QUEUES), key=KEY + "queue", format_func=QUEUES.get, horizontal=True
    )
    if mode != "judge":
        return mode, None, None
    options = sorted(verdicts["dimension_key"].unique().to_list())
    if st.session_state.get(KEY + "judge_dimension") not in options:
        st.session_state[KEY + "judge_dimension"] = options[0] if options else None
    dimension = middle.selectbox("Dimension", options, key=KEY + "judge_dimension")
    scores = score_options(verdicts, dimension)
    if st.session_state.get(KEY + "judge_score") not in scores:
        st.session_state[KEY + "judge_score"] = scores[-1] if scores else None
    score = right.selectbox("The judge said", scores, key=KEY + "judge_score")
    st.caption(
        "You know the judge's score in this queue: good for checking its positives, but labels "
        "made knowing it are not blind. For agreement figures, label from a random queue too."
    )
    return mode, dimension, score


def pick_transcript(
    run_id: str, name: str, index: pl.DataFrame, verdicts: pl.DataFrame, mine: pl.DataFrame
) -> tuple[list[Transcript], int | None, str]:
    """The queue, the position of the open transcript in it, and the key holding it."""
    done = set(mine.select("probe_id", "epoch").unique().iter_rows())
    queue = st.session_state.pop(KEY + "pending_queue", None)
    if queue is not None:
        st.session_state[KEY + "queue"] = queue
    st.caption(f"You have labelled {len(done):,} of {index.height:,} transcripts in this run.")
    mode, dimension, score = queue_controls(verdicts)
    # Transcripts labelled in this session keep their place, so Next goes on from where you are.
    this_session = st.session_state.setdefault(KEY + "labelled_now", set())
    now = pl.DataFrame(
        list(this_session),
        schema={"probe_id": pl.String, "epoch": mine.schema["epoch"]},
        orient="row",
    )
    earlier = mine.join(now, on=["probe_id", "epoch"], how="anti")
    keys = label_queue(
        index,
        verdicts,
        earlier,
        mode=mode,
        run_id=run_id,
        labeller=name or "-",
        dimension=dimension,
        judge_score=score,
    )
    open_key = f"{KEY}open.{run_id}"
    pending = st.session_state.pop(KEY + "pending_open", None)
    if pending is not None:
        st.session_state[open_key] = pending
    if not keys:
        return keys, None, open_key
    current = st.session_state.get(open_key)
    if current not in keys:
        current = keys[0]
    st.session_state[open_key] = current
    position = reading.step(keys, keys.index(current), open_key, KEY)
    if mode != "random" and all(key in done for key in keys[position:]) and keys[position] in done:
        st.success("Every transcript in this queue carries your labels.")
    with st.expander("Open a particular transcript"):
        probes = index["probe_id"].unique(maintain_order=True).to_list()
        probe = st.selectbox("Probe", probes, index=None, key=KEY + "probe", placeholder="probe id")
        if probe is not None:
            epochs = index.filter(pl.col("probe_id") == probe)["epoch"].to_list()
            epoch = st.selectbox("Epoch", epochs, key=KEY + "epoch")
            if st.button("Open", key=KEY + "open_probe"):
                st.session_state[KEY + "pending_open"] = (probe, int(epoch))
                if mode == "judge":  # the judge's queue may not hold it; every other queue does
                    st.session_state[KEY + "pending_queue"] = "unlabelled"
                st.rerun()
    return keys, position, open_key


def probe_panel(run_dir: Path, probe_id: str, epoch: int) -> None:
    """What the judge knows about the probe: its facts, and what a good assistant does."""
    probe = data.probe_definition(run_dir, probe_id, epoch)
    with st.container(border=True):
        if probe is None:
            st.caption("The probe's facts are not available (the run's log is missing or older).")
            return
        st.markdown("**What a good assistant does:** " + escape_markdown(probe.good_behaviour))
        for fact in facts(probe):
            st.markdown(
                f"**{escape_markdown(fact.label)}** (`{fact.name}`): " + escape_markdown(fact.text)
            )


def label_form(
    manifest: Manifest,
    run_dir: Path,
    transcript: Transcript,
    dims: pl.DataFrame,
    name: str,
    n_turns: int,
) -> None:
    probe_id, epoch = transcript
    stem = f"{KEY}{manifest.run_id}.{probe_id}.{epoch}."
    picks: dict[tuple[str, str], ScalePoint | None] = {}
    turns: dict[tuple[str, str], int | None] = {}
    with st.form(stem + "form"):
        for row in dims.iter_rows(named=True):
            rubric, dimension = row["rubric"], row["dimension"]
            st.markdown("**" + escape_markdown(f"{rubric}/{dimension}") + "**")
            asked = question(rubric, dimension)
            if asked:
                st.caption(escape_markdown(asked))
            picks[(rubric, dimension)] = st.radio(
                escape_markdown(f"{rubric}/{dimension}"),
                scale_points(rubric, dimension, row["scale"]),
                index=None,
                key=f"{stem}{rubric}.{dimension}",
                format_func=lambda p: p.text,
                label_visibility="collapsed",
            )
            if is_per_turn(rubric, dimension):
                turns[(rubric, dimension)] = st.selectbox(
                    "If yes: the turn where it first appeared",
                    list(range(1, n_turns + 1)),
                    index=None,
                    key=f"{stem}{rubric}.{dimension}.turn",
                    placeholder="turn",
                )
        note = st.text_input("Note (optional)", key=stem + "note")
        submitted = st.form_submit_button("Save labels", type="primary")
    if not submitted:
        return
    if not name:
        st.error("Enter your name above first: every label records who made it.")
        return
    if not LABELLER.matches(name):  # stored in labels.jsonl and shown to others: no hidden text
        st.error(f"Your name: use {LABELLER.rule}.")
        return
    missing_turn = [
        f"{rubric}/{dimension}"
        for (rubric, dimension), point in picks.items()
        if point is not None
        and point.value
        and (rubric, dimension) in turns
        and turns[(rubric, dimension)] is None
    ]
    if missing_turn:
        st.error(
            "Pick the turn where it first appeared for: " + escape_markdown(", ".join(missing_turn))
        )
        return
    labels = [
        Label(
            run_id=manifest.run_id,
            probe_id=probe_id,
            epoch=epoch,
            rubric=rubric,
            dimension=dimension,
            value=point.value,
            label=point.label,
            # a turn only where the behaviour was seen (as the judge records it)
            turn=turns.get((rubric, dimension)) if point.value else None,
            labeller=name,
            note=note.strip() or None,
        )
        for (rubric, dimension), point in picks.items()
        if point is not None
    ]
    if not labels:
        st.warning("Pick a score on at least one dimension, then save.")
        return
    append_labels(run_dir, labels)
    st.session_state.setdefault(KEY + "labelled_now", set()).add(transcript)
    st.rerun()  # re-read labels.jsonl: the judge's verdicts are now revealed


def _with_turn(text: str, turn: object) -> str:
    return f"{text} (first at turn {turn})" if turn is not None else text


def reveal(run_dir: Path, manifest: Manifest, transcript: Transcript, mine: pl.DataFrame) -> None:
    """After labelling: the person's scores beside the judge's, then the judge's full verdicts."""
    probe_id, epoch = transcript
    verdicts = data.transcript_verdicts(run_dir, probe_id, epoch)
    st.success("Your labels are saved. The judge's verdicts on this transcript:")
    mine = mine.filter((pl.col("probe_id") == probe_id) & (pl.col("epoch") == epoch))
    for label in mine.iter_rows(named=True):
        rubric, dimension = label["rubric"], label["dimension"]
        found = verdicts.filter((pl.col("rubric") == rubric) & (pl.col("dimension") == dimension))
        verdict = found.row(0, named=True) if found.height else None
        scale = verdict["scale"] if verdict else "binary"
        yours = _with_turn(
            describe(rubric, dimension, scale, label["value"], label["label"]), label["turn"]
        )
        judge = (
            "unscored"
            if verdict is None or verdict["status"] != "scored"
            else _with_turn(
                describe(rubric, dimension, scale, verdict["value"], verdict["label"]),
                verdict["turn"],
            )
        )
        st.markdown(
            f"**{escape_markdown(f'{rubric}/{dimension}')}**  \n"
            f"you: {escape_markdown(yours)}  \njudge: {escape_markdown(judge)}"
        )
    with st.expander("The judge's reasoning and evidence"):
        widgets.verdict_panel(verdicts, manifest.judge.id)


def label_tab(run_dir: Path, manifest: Manifest) -> None:
    name = labeller_name()
    index, verdicts, labels = data.index(run_dir), data.verdicts(run_dir), data.labels(run_dir)
    mine = labels.filter(pl.col("labeller") == name)
    keys, position, _ = pick_transcript(manifest.run_id, name, index, verdicts, mine)
    if position is None:
        st.info("No transcript in this queue.")
        return
    probe_id, epoch = keys[position]
    body = data.transcript(run_dir, probe_id, epoch)
    if body is None:
        st.warning("This transcript is missing from the run's index.")
        return
    url_state.publish(PAGE, {links.RUN: manifest.run_id, links.PROBE: probe_id, links.EPOCH: epoch})
    talk, form = st.columns([3, 2])
    with talk:
        st.subheader(escape_markdown(f"{probe_id} · epoch {epoch}"))
        probe_panel(run_dir, probe_id, epoch)
        widgets.conversation(body, None)  # no judge evidence: the labeller stays blind
    with form:
        if mine.filter((pl.col("probe_id") == probe_id) & (pl.col("epoch") == epoch)).height:
            reveal(run_dir, manifest, (probe_id, epoch), mine)
            st.caption(
                "Next ▶ (J) above goes on. Changed your mind? Saving again adds a newer label; the latest counts."
            )
        else:
            st.caption(
                "Score what you read, on the judge's scale. The judge's verdict shows once you save."
            )
        dims = (
            verdicts.filter((pl.col("probe_id") == probe_id) & (pl.col("epoch") == epoch))
            .select("rubric", "dimension", "scale")
            .unique(maintain_order=True)
        )
        n_turns = sum(1 for m in body.messages if m.get("role") == "user")
        label_form(manifest, run_dir, (probe_id, epoch), dims, name, n_turns)


def agreement_tab(run_dir: Path) -> None:
    labels = data.labels(run_dir)
    if labels.height == 0:
        st.info("No labels on this run yet. Label some transcripts in the other tab.")
        return
    intervals = st.toggle(
        "Bootstrap 95% CIs for kappa (about a second per dimension)", key=KEY + "intervals"
    )
    report = data.agreement(run_dir, intervals)
    st.caption(
        f"{labels.height:,} labels by {labels['labeller'].n_unique()} labeller(s), against the judge: "
        "the same figures as `character calibrate`. Kappa is Cohen's for binary and categorical "
        "scales, quadratic-weighted for ordinal ones; labels whose judge verdict is unscored are "
        "counted, never paired. Kappa's 95% half-width is about ±0.16 at 100 pairs (METHODS.md)."
    )
    for note in report.notes:
        st.caption(note)
    st.dataframe(
        summary_table(report),
        hide_index=True,
        column_config={
            "agreement": st.column_config.NumberColumn(format="percent"),
            "kappa": st.column_config.NumberColumn(format="%.2f"),
            "judge mean": st.column_config.NumberColumn(format="%.2f"),
            "people mean": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    between_people = labeller_table(report)
    if between_people.height:
        st.caption("People against each other (Krippendorff's alpha):")
        st.dataframe(
            between_people,
            hide_index=True,
            column_config={"alpha": st.column_config.NumberColumn(format="%.2f")},
        )
    for result in report.agreements:
        with st.expander(
            escape_markdown(
                f"Confusion matrix · {result.dimension} · {result.scorer} ({result.n} pairs)"
            )
        ):
            st.dataframe(confusion_table(result), hide_index=True)


def main() -> None:
    st.title("Labels")
    link = url_state.incoming(PAGE, (links.RUN,))
    session.restore(PAGE, STATE_KEYS)
    if link is not None:
        st.session_state[KEY + "run"] = url_state.first(link, links.RUN)
        probe, epoch = url_state.first(link, links.PROBE), url_state.number(link, links.EPOCH)
        if probe is not None and epoch is not None:
            st.session_state[KEY + "pending_open"] = (probe, epoch)
            if st.session_state.get(KEY + "queue") == "judge":
                st.session_state[KEY + "queue"] = "unlabelled"
    picked = widgets.pick_one_run(KEY + "run")
    if picked is None:
        return
    run_dir, manifest = picked
    label, agree = st.tabs(["Label transcripts", "Agreement: judge vs people"])
    with label:
        label_tab(run_dir, manifest)
    with agree:
        agreement_tab(run_dir)
    session.remember(PAGE, STATE_KEYS)


main()
