"""`character suites | run | runs | show`: run probe suites and read what was stored."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import polars as pl

from character.analysis.summary import dimension_summary, summary_lines
from character.boundary import values
from character.cli.options import Bounded, LabelType, RunIdType
from character.cli.output import echo
from character.domain.config import Config, load_config
from character.domain.probes import bundled_suite_paths, load_suite
from character.domain.simulated_user import STOP_REASONS
from character.domain.targets import ALLOWED_SETTINGS, Target, make_target
from character.engine.reply_shapes import stop_note, user_turn_note
from character.errors import CharacterError, one_line_text
from character.run.eval_tuning import DEFAULT_MAX_RETRIES
from character.run.pricing import Price
from character.store.cells import stored_evidence, stored_messages, stored_series
from character.store.layout import SCORES, TRANSCRIPTS, list_run_dirs, resolve_run
from character.store.manifest import Counts, Manifest, read_manifest

SIMULATOR_BANNER = "SIMULATED: sim/* models are simulated personas, not real model output."


def user_banner(user_model: str) -> str:
    """Said whenever adaptive probes are played: who wrote the user's turns after the script."""
    simulated = " (sim/user: a rule-based simulator, not a person or a model)" if user_model.startswith("sim/") else ""
    return f"SIMULATED USER: adaptive probes' user turns are written by {user_model}{simulated}."


@click.command()
def suites() -> None:
    """List the bundled probe suites with their probe counts and sources."""
    for name, path in bundled_suite_paths().items():
        suite = load_suite(path)
        kinds: dict[str, int] = {}
        for probe in suite.probes:
            kinds[probe.kind] = kinds.get(probe.kind, 0) + 1
        mix = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        origin = f"{suite.source} ({suite.license})" if suite.source else "written for character"
        echo(f"{name:<28} v{suite.version}  {len(suite.probes):>4} probes  [{mix}]")
        echo(f"{'':<28} source: {origin}")


def parse_model_args(pairs: tuple[str, ...]) -> dict[str, object]:
    args: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CharacterError(f"'{pair}' is not key=value", field="-M", remedy="write -M name=value")
        try:
            args[key] = json.loads(value)
        except json.JSONDecodeError:
            args[key] = value
    return args


def target_from_options(
    target: str, system_prompt: Path | None, name: str | None, config_path: Path | None, settings: dict
) -> Target:
    config = load_config(config_path)
    if "/" not in target and target in config.targets:
        base = config.target(target)
        if system_prompt is None and not settings:
            return base
        merged = {**base.settings, **settings}
        prompt = system_prompt or base.system_prompt_file
        return make_target(base.model, system_prompt_file=prompt, settings=merged,
                           name=name or base.name, model_args=base.model_args)
    return make_target(target, system_prompt_file=system_prompt, settings=settings, name=name)


@click.command()
@click.argument("suite_names", metavar="SUITE...", nargs=-1, required=True)
@click.option("--target", "target", required=True, help="provider/model (e.g. anthropic/claude-sonnet-4-5, sim/assistant-v1) or a target name from character.toml.")
@click.option("--system-prompt", type=click.Path(dir_okay=False, path_type=Path), help="System prompt file for the target.")
@click.option("--name", type=LabelType(), help="Human label for the target version (default: the model name).")
@click.option("--epochs", default=1, show_default=True, type=Bounded(values.EPOCHS), help="Times each probe is played.")
@click.option("--judge", default=None, help="auto (Claude if ANTHROPIC_API_KEY is set, else lexical), lexical (= lexical-v2), lexical-v1, or provider/model.")
@click.option("--judge-repeats", default=None, type=Bounded(values.JUDGE_REPEATS), help="Judge samples per transcript (aggregated).")
@click.option("--limit", type=Bounded(values.LIMIT), help="Only the first N probes.")
@click.option("--max-connections", default=16, show_default=True, type=Bounded(values.MAX_CONNECTIONS), help="Concurrent API connections.")
@click.option("--temperature", type=Bounded(values.TEMPERATURE))
@click.option("--max-tokens", type=Bounded(values.MAX_TOKENS))
@click.option("--seed", type=Bounded(values.SEED), help="Seed (used by simulated targets; passed to providers that accept one).")
@click.option("-M", "model_arg", multiple=True, help="Model arg name=value (e.g. simulator propensities).")
@click.option("--run-id", type=RunIdType(), help="Store under this id instead of the derived one.")
@click.option("--fresh", is_flag=True, help="A new run even if an identical one is stored.")
@click.option("--batch", is_flag=True, help="Use the provider's batch API (cheaper, slower).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="character.toml")
@click.option("--display", type=click.Choice(["full", "rich", "plain", "log", "none"]), default=None, help="Progress display (default: rich in a terminal, plain otherwise).")
@click.option("--max-retries", default=DEFAULT_MAX_RETRIES, show_default=True, type=Bounded(values.MAX_RETRIES), help="Retries per API call (rate limits, overloads, 5xx, dropped connections, timeouts).")
@click.option("--timeout", "call_timeout", type=Bounded(values.TIMEOUT), help="Seconds one API call may take, retries included.")
@click.option("--attempt-timeout", type=Bounded(values.TIMEOUT), help="Seconds one API attempt may take before it is abandoned and retried.")
@click.option("--user-model", default=None, help="Adaptive probes: provider/model that plays the user (default: the probes' user.model; sim/user is the offline simulator). Never the target.")
@click.pass_context
def run(ctx: click.Context, suite_names: tuple[str, ...], target: str, system_prompt: Path | None, name: str | None, epochs: int, judge: str | None, judge_repeats: int | None, limit: int | None, max_connections: int, temperature: float | None, max_tokens: int | None, seed: int | None, model_arg: tuple[str, ...], run_id: str | None, fresh: bool, batch: bool, config_path: Path | None, display: str | None, max_retries: int, call_timeout: int | None, attempt_timeout: int | None, user_model: str | None) -> None:
    """Play SUITE(s) against a target, judge every transcript, store the run."""
    # inspect and the judge load here, not at import: `runs`, `show` and `suites` stay quick
    from character.run.judges import judge_from
    from character.run.runner import RunRequest, execute, prepare

    settings = {k: v for k, v in {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}.items() if v is not None}
    assert set(settings) <= ALLOWED_SETTINGS
    config = load_config(config_path)
    the_target = target_from_options(target, system_prompt, name, config_path, settings)
    judge_spec = judge_from(judge, config, repeats=judge_repeats)
    request = RunRequest(
        suites=list(suite_names), target=the_target, judge=judge_spec, store=ctx.obj["store"],
        epochs=epochs, limit=limit, max_connections=max_connections, run_id=run_id, fresh=fresh,
        display=display or default_display(), batch=batch, model_args=parse_model_args(model_arg),
        max_retries=max_retries, timeout=call_timeout, attempt_timeout=attempt_timeout,
        prices=config_prices(config), user_model=user_model,
    )
    prepared = prepare(request)
    if the_target.simulated:
        echo(SIMULATOR_BANNER)
    if prepared.user_model is not None:
        echo(user_banner(prepared.user_model))
    echo(f"run {prepared.run_id}: {', '.join(s.name for s in prepared.suites)} "
               f"x {the_target.label} x {epochs} epoch(s), judge {judge_spec.id}")
    for warning in prepared.warnings:
        echo(f"warning: {warning}", err=True)
    manifest = execute(prepared)
    echo_run_result(prepared.dir, manifest)
    if manifest.status != "complete":
        raise click.exceptions.Exit(1)


def config_prices(config: Config) -> dict[str, Price]:
    return {name: Price(**p.model_dump()) for name, p in config.prices.items()}


def default_display() -> str:
    return "rich" if sys.stdout.isatty() else "plain"


def echo_run_result(folder: Path, manifest: Manifest) -> None:
    counts = manifest.counts
    cost = manifest.cost_usd.get("total")
    echo(
        f"{manifest.status}: {counts.samples} transcripts, {counts.scored} verdicts scored, "
        f"{counts.unscored} unscored ({unscored_causes(counts)}); "
        f"cost {'unpriced (add [prices] to character.toml)' if cost is None else f'${cost:.4f}'}; "
        f"stored in {folder}"
    )
    shapes = reply_shape_line(counts)
    if shapes:
        echo(shapes)
    retries = manifest.retries
    if any(retries.get(k) for k in ("api_retries", "failed_calls", "sample_retries")) or counts.samples_errored:
        echo(
            f"retries: {retries.get('api_retries', 0)} API retries, "
            f"{retries.get('failed_calls', 0)} failed calls, "
            f"{retries.get('sample_retries', 0)} conversations replayed; "
            f"{counts.samples_errored} conversations failed after every retry (stored, unscored)"
        )
    for warning in manifest.warnings:
        echo(f"warning: {warning}")
    summary = dimension_summary(pl.scan_parquet(folder / SCORES))
    for line in summary_lines(summary):
        echo(line)


def unscored_causes(counts: Counts) -> str:
    """'2 judge errors, 1 target refused': the judge's failures, then what the target did."""
    parts = [f"{counts.unscored_judge_error} judge errors"]
    for number, what in (
        (counts.unscored_target_refused, "target refused"),
        (counts.unscored_target_truncated, "target truncated"),
        (counts.unscored_target_empty, "target empty"),
        (counts.unscored_target_error, "target errors"),
        (counts.unscored_user_error, "user model errors"),
        (counts.unscored_sample_error, "sample errors"),
    ):
        if number:
            parts.append(f"{number} {what}")
    return ", ".join(parts)


def reply_shape_line(counts: Counts) -> str | None:
    """How many target replies did not end normally (None when all did)."""
    found = [
        (counts.turns_blocked, "blocked by the provider's safety system"),
        (counts.turns_truncated, "cut at the token limit"),
        (counts.turns_empty, "empty"),
    ]
    if not any(number for number, _ in found):
        return None
    listed = ", ".join(f"{number} {what}" for number, what in found if number)
    return f"target replies: {counts.target_turns} in all; {listed}"


@click.command()
@click.pass_context
def runs(ctx: click.Context) -> None:
    """List stored runs."""
    folders = list_run_dirs(ctx.obj["store"])
    if not folders:
        echo(f"no runs in {ctx.obj['store']} (try `character demo`)")
        return
    for folder in folders:
        try:
            m = read_manifest(folder)
        except CharacterError as exc:  # one damaged run does not hide the others
            echo(f"{folder.name:<56} DAMAGED    {exc.one_line()}")
            continue
        marks = f" [{', '.join(m.marks)}]" if m.marks else ""
        # one row per run, whatever the manifest's text holds (a newline in a model name would
        # start a fake row; an escape sequence would rewrite this one)
        echo(one_line_text(
            f"{folder.name:<56} {m.status:<10} {m.target.label:<28} judge {m.judge.id:<28} "
            f"{m.counts.samples:>5} transcripts  {m.created[:16]}{marks}"
        ))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("probe_id", metavar="[PROBE]", required=False)
@click.option("--epoch", default=None, type=Bounded(values.EPOCH), help="Only this epoch.")
@click.pass_context
def show(ctx: click.Context, run_ref: str, probe_id: str | None, epoch: int | None) -> None:
    """Show a run's summary, or a probe's transcript(s) with the judge's verdicts."""
    folder = resolve_run(ctx.obj["store"], run_ref)
    manifest = read_manifest(folder)
    if manifest.simulated:
        echo(SIMULATOR_BANNER)
    if probe_id is None:
        echo_run_result(folder, manifest)
        probes = pl.scan_parquet(folder / TRANSCRIPTS).select("probe_id").unique().sort("probe_id").collect()
        echo(f"\n{probes.height} probes; show one with: character show {manifest.run_id} PROBE")
        return
    transcripts = pl.scan_parquet(folder / TRANSCRIPTS).filter(pl.col("probe_id") == probe_id)
    if epoch is not None:
        transcripts = transcripts.filter(pl.col("epoch") == epoch)
    rows = transcripts.sort("epoch").collect()
    if rows.height == 0:
        raise CharacterError(f"probe '{probe_id}' is not in run {manifest.run_id}", field="PROBE",
                             remedy=f"list probes with `character show {manifest.run_id}`")
    scores = pl.scan_parquet(folder / SCORES).filter(pl.col("probe_id") == probe_id).collect()
    for row in rows.iter_rows(named=True):
        echo(transcript_text(row, scores.filter(pl.col("epoch") == row["epoch"]), manifest, folder))


def transcript_text(row: dict, scores: pl.DataFrame, manifest: Manifest, folder: Path) -> str:
    where = f"probe {row['probe_id']} epoch {row['epoch']}"  # a damaged cell is named by it
    lines = [f"\n=== {row['probe_id']} ({row['kind']}, {row['category']}) · epoch {row['epoch']} · "
             f"{manifest.target.label} ({manifest.target.model}) ==="]
    turn = 0
    for message in stored_messages(row["messages"], file=folder / TRANSCRIPTS, where=where):
        if message["role"] == "system":
            lines.append(f"[system prompt] {message['content'][:200]}")
            continue
        if message["role"] == "user":
            turn += 1
        who = "assistant (scripted)" if message.get("scripted") else message["role"]
        if message.get("simulated"):
            who = f"user (simulated by {manifest.user_model or 'a user model'})"
        lines.append(f"\n[turn {turn} {who}]")
        if message["content"]:
            lines.append(message["content"])
        if message["role"] == "user" and message.get("simulated"):
            cut = user_turn_note(message.get("stop_reason"))
            if cut:
                lines.append(f"[{cut} · stop reason {message['stop_reason']}]")
        if message["role"] == "assistant" and not message.get("scripted"):
            note = stop_note(message.get("stop_reason"), message["content"])
            if note:
                stop = message.get("stop_reason")
                lines.append(f"[{note}{f' · stop reason {stop}' if stop else ''}]")
    if row.get("error"):
        lines.append(f"\n(sample error: {row['error']})")
    if row.get("user_stop"):
        lines.append(f"\n(conversation ended: {STOP_REASONS.get(row['user_stop'], row['user_stop'])})")
    lines.append(f"\n--- verdicts (judge {manifest.judge.id}) ---")
    for v in scores.filter(pl.col("rubric") != "markers").iter_rows(named=True):
        if v["status"] == "scored":
            shown = v["label"] if v["label"] is not None else f"{v['value']:g}"
            at = f" at turn {v['turn']}" if v["turn"] is not None else ""
            lines.append(f"{v['rubric']}/{v['dimension']} = {shown}{at}: {v['reasoning']}")
            if v.get("by_turn"):
                series = stored_series(v["by_turn"], file=folder / SCORES, where=where)
                lines.append(f"    by turn: {series_text(series)}")
        else:
            lines.append(f"{v['rubric']}/{v['dimension']} = UNSCORED ({v['reason']})")
        for ev in stored_evidence(v["evidence"], file=folder / SCORES, where=where):
            mark = "" if ev.get("verified", True) else "  [quote NOT found in transcript]"
            lines.append(f"    turn {ev.get('turn')}: \"{ev['quote']}\"{mark}")
        if v["flags"]:
            lines.append(f"    flags: {v['flags']}")
    markers = scores.filter(pl.col("rubric") == "markers")
    if markers.height:
        found = ", ".join(f"{m['dimension']}={m['value']:g}" for m in markers.iter_rows(named=True))
        lines.append(f"markers: {found}")
    return "\n".join(lines)



def series_text(series: list[tuple[int, float | None]]) -> str:
    """A per-turn series as `1:0 2:0 3:1 ...` (- where the turn could not be rated)."""
    return " ".join(f"{turn}:{'-' if value is None else f'{value:g}'}" for turn, value in series)


@click.command("judge")
@click.argument("run_ref", metavar="RUN")
@click.option("--judge", "judge_choice", required=True, help="lexical (= lexical-v2), lexical-v1, auto, or provider/model.")
@click.option("--judge-repeats", default=1, show_default=True, type=Bounded(values.JUDGE_REPEATS))
@click.option("--rubric", "rubric_names", multiple=True, help="Judge on this rubric instead of the ones the probes name (repeatable), e.g. production for imported tickets.")
@click.option("--max-connections", default=16, show_default=True, type=Bounded(values.MAX_CONNECTIONS))
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="character.toml (its [judge] attempts apply).")
@click.pass_context
def judge_command(ctx: click.Context, run_ref: str, judge_choice: str, judge_repeats: int, rubric_names: tuple[str, ...], max_connections: int, config_path: Path | None) -> None:
    """Re-judge a stored RUN with another judge (or edited rubrics) as a new run; the original is kept.

    Works on imported runs too: their conversations are judged as they were stored.
    """
    from character.run.judges import resolve_judge
    from character.run.rejudge import rejudge

    source = resolve_run(ctx.obj["store"], run_ref, tables=False)  # re-judging reads the logs
    attempts = load_config(config_path).judge.attempts
    spec = resolve_judge(judge_choice, repeats=judge_repeats, attempts=attempts)
    manifest = rejudge(source, spec, store=ctx.obj["store"], max_connections=max_connections,
                       rubrics=list(rubric_names) or None)
    echo(f"re-judged {source.name} with {spec.id} -> {manifest.run_id}")
    echo_run_result(Path(ctx.obj["store"]) / manifest.run_id, manifest)


COMMANDS = [suites, run, runs, show, judge_command]
