"""`character import | calibrate`: bring outside transcripts and labels in, and check the judge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from character.boundary import values
from character.cli.options import Bounded, LabelType
from character.cli.output import echo
from character.errors import CharacterError, one_line_text
from character.importers import generic, syco_bench, sycon, xstest
from character.importers.store_writer import ImportBatch, write_imports
from character.store.layout import resolve_run

# Adapter name -> (recognises a file, loads it). Recognition only picks a default for --format auto.
FORMATS: dict[str, tuple[Callable[[Path], bool], Callable[..., list[ImportBatch]]]] = {
    "generic": (generic.sniff, generic.load),
    "xstest": (xstest.sniff, xstest.load),
    "sycon": (sycon.sniff, sycon.load),
    "syco-bench": (syco_bench.sniff, syco_bench.load),
}


def detect_format(path: Path) -> str:
    for name, (sniff, _load) in FORMATS.items():
        if sniff(path):
            return name
    raise CharacterError(
        "cannot tell the file's format",
        file=path,
        remedy=f"pass --format ({', '.join(FORMATS)}); the formats are in docs/importing.md",
    )


def load_batches(
    path: Path,
    fmt: str,
    *,
    model: str | None,
    name: str | None,
    suites: tuple[Path, ...] = (),
    judge_labels: Path | None = None,
) -> list[ImportBatch]:
    """Parse FILE with its adapter; options an adapter does not take are refused, not ignored."""
    if not path.exists():
        raise CharacterError("file not found", file=path, remedy="check the path")
    if not path.is_file():
        raise CharacterError(
            "not a regular file (a device, a pipe or a folder)", file=path, remedy="pass the file to import"
        )
    chosen = detect_format(path) if fmt == "auto" else fmt
    if suites and chosen != "generic":
        raise CharacterError("--suite is for the generic format", field="--suite")
    if judge_labels and chosen != "sycon":
        raise CharacterError("--judge-labels is for the sycon format", field="--judge-labels")
    loader = FORMATS[chosen][1]
    if chosen == "generic":
        return loader(path, model=model, name=name, suites=suites)
    if chosen == "sycon":
        return loader(path, model=model, name=name, judge_labels=judge_labels)
    return loader(path, model=model, name=name)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True,
              help="generic JSONL, or an adapter for a public dataset (auto: from the file name and columns).")
@click.option("--name", type=LabelType(), help="Human label for the imported model version (display only).")
@click.option("--model", type=LabelType(), help="Model id to record (default: from the file, or its name; e.g. openai/gpt-4).")
@click.option("--suite", "suites", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="generic: a suite file whose probe ids lines may name (bundled suites always can).")
@click.option("--judge-labels", type=click.Path(dir_okay=False, path_type=Path),
              help="sycon: the judge labels CSV (default: <model>_judge_labels.csv beside FILE).")
@click.pass_context
def import_(ctx: click.Context, file: Path, fmt: str, name: str | None, model: str | None,
            suites: tuple[Path, ...], judge_labels: Path | None) -> None:
    """Store FILE's conversations (and labels, and judge scores) as run(s) marked imported.

    A malformed file is refused whole, every problem listed with its line; nothing is stored.
    Importing the same data again changes nothing.
    """
    batches = load_batches(file, fmt, model=model, name=name, suites=suites, judge_labels=judge_labels)
    for result in write_imports(ctx.obj["store"], batches):  # every model of the file, or none
        m = result.manifest
        if not result.created:
            echo(one_line_text(f"already imported as {m.run_id} ({m.counts.samples} transcripts): nothing changed"))
            continue
        labels = f", {result.labels_added} human labels" if result.labels_added else ""
        echo(one_line_text(
            f"imported {m.run_id}: {m.counts.samples} transcripts of {m.target.model}, "
            f"{m.counts.verdicts} verdicts ({m.counts.unscored} unscored) by {m.judge.id}{labels}; "
            f"stored in {result.run_dir}"
        ))
        for warning in m.warnings:
            echo(one_line_text(f"warning: {warning}"))
        echo(f"  next: character show {m.run_id} · character calibrate {m.run_id}")


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--labels-from", "labels_ref", metavar="RUN", help="Take human labels from this run (same transcripts).")
@click.option("--judges-from", "judge_refs", metavar="RUN", multiple=True,
              help="Also compare this run's judge (e.g. the same transcripts re-judged); repeatable.")
@click.option("--dimension", "dimensions", multiple=True, help="rubric/dimension (or dimension) to check; repeatable. Default: all.")
@click.option("--reference", help="Labeller whose labels are the reference (default: the adjudicated or only one, else consensus).")
@click.option("--lexical", is_flag=True, help="Also score the stored transcripts with both lexical judges (lexical-v1, lexical-v2).")
@click.option("--resamples", default=2000, show_default=True, type=Bounded(values.RESAMPLES), help="Bootstrap resamples for the 95% intervals.")
@click.option("--no-intervals", is_flag=True, help="Skip the bootstrap intervals (quicker; figures without CIs).")
@click.option("--seed", default=0, show_default=True, type=Bounded(values.SEED))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports") / "calibration",
              show_default=True, help="Folder for the Markdown and JSON reports.")
@click.pass_context
def calibrate(ctx: click.Context, run_ref: str, labels_ref: str | None, judge_refs: tuple[str, ...],
              dimensions: tuple[str, ...], reference: str | None, lexical: bool, resamples: int,
              no_intervals: bool, seed: int, out_dir: Path) -> None:
    """How well do RUN's scorers agree with human labels, and with each other?"""
    from character.analysis.calibrate import calibrate as run_calibration
    from character.analysis.calibrate import summary_lines, write_report

    store = ctx.obj["store"]
    report = run_calibration(
        resolve_run(store, run_ref),
        labels_from=resolve_run(store, labels_ref) if labels_ref else None,
        judges_from=[resolve_run(store, ref) for ref in judge_refs],
        dimensions=dimensions,
        reference=reference,
        lexical=lexical,
        resamples=0 if no_intervals else resamples,
        seed=seed,
    )
    for line in summary_lines(report):
        echo(line)
    for note in report.notes:
        echo(f"note: {note}")
    md, js = write_report(report, out_dir)
    echo(f"written: {md} and {js}")


COMMANDS = [import_, calibrate]
