"""Labels: score transcripts on the judge's scale, blind to the judge; then judge-vs-human agreement."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from character.store.labels import Label, append_labels
from character.store.manifest import Manifest
from character.viewer import data, session, widgets
from character.viewer.agreement import confusion_table, labeller_table, summary_table
from character.viewer.render import escape_markdown
from character.viewer.scales import ScalePoint, describe, question, scale_points

KEY = "labels."
Transcript = tuple[str, int]


def labeller_name() -> str:
    if KEY + "name" not in st.session_state:
        st.session_state[KEY + "name"] = st.session_state[session.LABELLER]
    name = st.text_input("Your name (stored with every label)", key=KEY + "name").strip()
    st.session_state[session.LABELLER] = name
    return name


def pick_transcript(index: pl.DataFrame, mine: pl.DataFrame) -> Transcript | None:
    done = set(mine.select("probe_id", "epoch").unique().iter_rows())
    everything = list(index.select("probe_id", "epoch").iter_rows())
    st.caption(f"You have labelled {len(done):,} of {len(everything):,} transcripts in this run.")
    only_new = st.toggle("Only transcripts I have not labelled", value=True, key=KEY + "only_new")
    # The transcript just labelled stays listed, so its revealed verdicts stay on screen.
    just_saved = st.session_state.get(KEY + "just_saved")
    choices = [t for t in everything if not (only_new and t in done) or t == just_saved]
    if not choices:
        st.success("Every transcript in this run carries your labels.")
        return None
    # Probe, then epoch: two short lists instead of one option per transcript (10,000 in a big run).
    probes = list(dict.fromkeys(probe for probe, _ in choices))
    if st.session_state.get(KEY + "probe") not in probes:
        st.session_state[KEY + "probe"] = probes[0]
    left, right = st.columns([3, 1])
    probe_id = left.selectbox("Probe", probes, key=KEY + "probe")
    epochs = [epoch for probe, epoch in choices if probe == probe_id]
    if st.session_state.get(KEY + "epoch") not in epochs:
        st.session_state[KEY + "epoch"] = epochs[0]
    return probe_id, right.selectbox("Epoch", epochs, key=KEY + "epoch")


def _next_transcript() -> None:
    for key in ("just_saved", "probe", "epoch"):
        st.session_state.pop(KEY + key, None)


def label_form(
    manifest: Manifest, run_dir: Path, transcript: Transcript, dims: pl.DataFrame, name: str
) -> None:
    probe_id, epoch = transcript
    stem = f"{KEY}{manifest.run_id}.{probe_id}.{epoch}."
    picks: dict[tuple[str, str], ScalePoint | None] = {}
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
        note = st.text_input("Note (optional)", key=stem + "note")
        submitted = st.form_submit_button("Save labels", type="primary")
    if not submitted:
        return
    if not name:
        st.error("Enter your name above first: every label records who made it.")
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
    st.session_state[KEY + "just_saved"] = transcript
    st.rerun()  # re-read labels.jsonl: the judge's verdicts are now revealed


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
        yours = describe(rubric, dimension, scale, label["value"], label["label"])
        judge = (
            "unscored"
            if verdict is None or verdict["status"] != "scored"
            else describe(rubric, dimension, scale, verdict["value"], verdict["label"])
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
    transcript = pick_transcript(index, mine)
    if transcript is None:
        return
    probe_id, epoch = transcript
    body = data.transcript(run_dir, probe_id, epoch)
    if body is None:
        st.warning("This transcript is missing from the run's index.")
        return
    talk, form = st.columns([3, 2])
    with talk:
        widgets.conversation(body, None)  # no judge evidence: the labeller stays blind
    with form:
        if mine.filter((pl.col("probe_id") == probe_id) & (pl.col("epoch") == epoch)).height:
            reveal(run_dir, manifest, transcript, mine)
            st.button("Next transcript", key=KEY + "next", on_click=_next_transcript)
            st.caption("Changed your mind? Saving again adds a newer label; the latest counts.")
        else:
            st.caption(
                "Score what you read, on the judge's scale. The judge's verdict shows once you save."
            )
        dims = (
            verdicts.filter((pl.col("probe_id") == probe_id) & (pl.col("epoch") == epoch))
            .select("rubric", "dimension", "scale")
            .unique(maintain_order=True)
        )
        label_form(manifest, run_dir, transcript, dims, name)


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
            escape_markdown(f"Confusion matrix · {result.dimension} · {result.scorer} ({result.n} pairs)")
        ):
            st.dataframe(confusion_table(result), hide_index=True)


def main() -> None:
    st.title("Labels")
    picked = widgets.pick_one_run(KEY + "run")
    if picked is None:
        return
    run_dir, manifest = picked
    label, agree = st.tabs(["Label transcripts", "Agreement: judge vs people"])
    with label:
        label_tab(run_dir, manifest)
    with agree:
        agreement_tab(run_dir)


main()
