"""The generic import format: JSONL, one conversation per line (spec: docs/importing.md).

Every line is checked before anything is stored. A file with any malformed line is refused as a
whole and nothing is written: a partial import would look complete in comparisons and reports.
All problems are reported at once, each with its line number and field, so one pass fixes them.

Lines are grouped by (model, version); each group becomes one run. A line names a bundled probe
(`probe`) or describes its own (`kind`, `category`, `facts`, ...), in which case a probe is
synthesized from the user turns, so two files with the same prompts get the same suite hash and
their runs can be compared.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StrictBool, ValidationError

from character.boundary import values
from character.boundary.errors import describe_error
from character.boundary.ids import LABELLER, IdKind, Labeller, distinct_slug
from character.boundary.reading import (
    IMPORT_FILE_MAX,
    MAX_DEPTH,
    JsonContentError,
    decode,
    json_depth,
    jsonl_lines,
    loads_strict,
    read_bytes,
)
from character.domain.probes import (
    PROBE_ID,
    Facts,
    Probe,
    ProbeKind,
    Suite,
    bundled_suite_paths,
    load_suite,
)
from character.domain.rubrics import Dimension, Rubric, load_rubric, rubric_dirs
from character.engine.transcript import normalise
from character.engine.verdicts import Verdict, unscored
from character.errors import CharacterError
from character.importers.store_writer import (
    Conversation,
    HumanLabel,
    ImportBatch,
    JudgedVerdict,
    Message,
    imported_judge_record,
)

ADAPTER = "generic"
ADAPTER_VERSION = 1
DEFAULT_SUITE = "imported"
DEFAULT_CATEGORY = "imported"
DEFAULT_GOOD = "(not given: imported conversation without a probe file)"
NO_JUDGE = "none (the file scores other conversations only)"
MAX_REPORTED = 20  # problems listed in the error message; all are kept on the exception


# --------------------------------------------------------------------------------------------
# The line schema


Epoch = values.EPOCH.pydantic()
Turn = values.TURN.pydantic()


class _Strict(values.ExactScalars):
    # a NaN value passes every range check and would be stored as a score
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LineMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: str
    scripted: StrictBool = False  # assistant only: pre-filled history the model did not write
    simulated: StrictBool = False  # user only: written by a user model (a simulated user), not a person


class LineLabel(_Strict):
    dimension: str = Field(pattern=r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$")  # "rubric/dimension"
    value: float | None = None  # binary 0/1 or an ordinal level
    label: str | None = None  # categorical scales; on numeric ones a human label's finer class
    turn: Turn | None = None  # per-turn dimensions: first turn it appeared
    by: Labeller  # who made the judgement: a person or a judge model
    by_kind: Literal["human", "judge"] = "human"
    reasoning: str | None = None  # judge only
    reason: str | None = None  # judge only: why it gave no score (the row becomes unscored)
    note: str | None = None  # human only


def _printable(what: str, example: str) -> Any:
    """Printable one-line text (as a labeller's name) whose error names what it is."""
    kind = IdKind(what, LABELLER.pattern, LABELLER.rule, example, printable=True)
    return Annotated[str, AfterValidator(kind.validator)]


ConversationId = _printable("conversation id", "ticket-0042")
ModelName = _printable("model name", "acme/support-bot")
VersionLabel = _printable("version label", "prompt-v7")


class Line(_Strict):
    id: ConversationId  # printable, one line: it names the conversation in messages
    messages: list[LineMessage] = Field(min_length=2)
    probe: str | None = None
    suite: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    kind: ProbeKind | None = None
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    facts: Facts | None = None
    rubrics: list[str] | None = None
    good_behaviour: str | None = None
    model: ModelName | None = None  # printed by `runs` and `show`: no control characters
    version: VersionLabel | None = None
    epoch: Epoch = 1
    labels: list[LineLabel] = Field(default_factory=list)
    meta: Any = None  # free-form (any JSON value), ignored


PROBE_FIELDS = ("suite", "kind", "category", "tags", "facts", "rubrics", "good_behaviour")


# --------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class Problem:
    line: int | None  # file line (CSV: where the record starts); None for the file as a whole
    field: str | None
    message: str

    def text(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        where += f", field '{self.field}'" if self.field else ""
        return f"{where}: {self.message}"


class ImportRefused(CharacterError):
    """The file has malformed lines; nothing was imported. `problems` lists every one."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "; ".join(p.text() for p in problems[:MAX_REPORTED])
        more = f"; and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        super().__init__(
            f"{len(problems)} problem(s), nothing was imported: {shown}{more}",
            file=path,
            remedy="fix the lines listed (format: docs/importing.md) and import the file again",
        )


def _loc(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _pydantic_problems(number: int, exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        message, remedy = describe_error(error)
        # the remedy without "(fix: ...)": the whole error ends in the file's one fix group
        problems.append(Problem(number, _loc(loc) or None, f"{message}; {remedy}"))
    return problems


# --------------------------------------------------------------------------------------------
# Lookups


def _known_rubrics() -> tuple[str, ...]:
    # keyed on the folders and their mtimes: the folders depend on the working directory and
    # $CHARACTER_RUBRICS, and adding a rubric file changes its folder's mtime
    return _rubric_names(tuple((folder, folder.stat().st_mtime_ns) for folder in rubric_dirs()))


@cache
def _rubric_names(folders: tuple[tuple[Path, int], ...]) -> tuple[str, ...]:
    return tuple(sorted({p.stem for folder, _mtime in folders for p in folder.glob("*.yaml")}))


def default_rubrics(kind: str) -> list[str]:
    """Rubrics with a dimension written for this kind of probe (not the ones that apply to all)."""
    return [
        name
        for name in _known_rubrics()
        if any(d.applies_to and kind in d.applies_to for d in load_rubric(name).dimensions)
    ]


@cache
def _suite_at(path: str, mtime_ns: int) -> Suite:
    """A suite file, parsed once per content version (bundled suites hold up to ~1,000 probes)."""
    return load_suite(Path(path))


def cached_suite(path: Path) -> Suite:
    return _suite_at(str(path), Path(path).stat().st_mtime_ns)


class ProbeIndex:
    """Probes by id: from the bundled suite the id's prefix names, and any --suite files."""

    def __init__(self, extra_suites: Iterable[Path] = ()) -> None:
        self._extra = [cached_suite(Path(path)) for path in extra_suites]

    def get(self, probe_id: str) -> tuple[Probe, Suite] | None:
        bundled = bundled_suite_paths().get(probe_id.split(".", 1)[0])
        suites = [*self._extra, *([cached_suite(bundled)] if bundled else [])]
        for suite in suites:
            try:
                return suite.probe(probe_id), suite
            except KeyError:
                continue
        return None


def _probe_id(suite: str, conversation_id: str) -> str:
    """`suite.id`, lower-cased; an id that loses more than its case (another script, spaces,
    punctuation) is tagged with a hash of itself, so two tickets never become one probe."""
    readable = unicodedata.normalize("NFKD", conversation_id).encode("ascii", "ignore").decode()
    tail = re.sub(r"[^a-z0-9_.\-]+", "-", readable.lower()).strip("-.") or "conversation"
    limit = 200 - len(suite) - 1  # PROBE_ID's length
    return f"{suite}.{distinct_slug(conversation_id, tail, kept=conversation_id.lower(), limit=limit)}"


# --------------------------------------------------------------------------------------------
# Checking one line


@dataclass
class Checked:
    number: int
    line: Line
    probe: Probe
    suite: Suite | None  # the suite of a named probe; None: synthesized
    messages: list[Message]
    verdicts: list[JudgedVerdict] = field(default_factory=list)
    labels: list[HumanLabel] = field(default_factory=list)
    rubrics: list[Rubric] = field(default_factory=list)
    turns_differ: bool = False


def _check_messages(number: int, line: Line) -> list[Problem]:
    """System messages first, then user/assistant alternating, ending with the model's reply."""
    problems = []
    body = list(enumerate(line.messages))
    while body and body[0][1].role == "system":
        body.pop(0)
    if not body:
        return [Problem(number, "messages", "no user or assistant message")]
    for position, (index, message) in enumerate(body):
        expected = "user" if position % 2 == 0 else "assistant"
        if message.role != expected:
            hint = "system messages go first" if message.role == "system" else "user and assistant alternate"
            problems.append(
                Problem(number, f"messages[{index}].role", f"expected '{expected}' here ({hint})")
            )
            break
        if message.scripted and message.role != "assistant":
            problems.append(Problem(number, f"messages[{index}].scripted", "only assistant turns can be scripted"))
        if message.simulated and message.role != "user":
            problems.append(Problem(number, f"messages[{index}].simulated", "only user turns can be simulated (written by a user model)"))
        if message.role == "user" and not message.content.strip():
            problems.append(Problem(number, f"messages[{index}].content", "a user message is empty"))
    if not problems:
        last_index, last = body[-1]
        if last.role != "assistant":
            problems.append(
                Problem(number, f"messages[{last_index}]", "the conversation must end with the assistant's reply")
            )
        elif last.scripted:
            problems.append(
                Problem(number, f"messages[{last_index}].scripted", "the last reply must be the model's own")
            )
    return problems


def _synthesize(number: int, line: Line) -> tuple[Probe | None, list[Problem]]:
    kind = line.kind or _inferred_kind(line)
    if kind is None:
        return None, [
            Problem(number, "kind", "required when 'probe' is not given (one of the probe kinds in docs/importing.md)")
        ]
    rubrics = line.rubrics if line.rubrics is not None else default_rubrics(kind)
    unknown = [name for name in rubrics if name not in _known_rubrics()]
    if unknown:
        return None, [Problem(number, "rubrics", f"unknown rubric(s): {', '.join(unknown)}")]
    if not rubrics:
        return None, [Problem(number, "rubrics", f"no rubric has dimensions for kind '{kind}'; name one")]
    suite = line.suite or DEFAULT_SUITE
    turns = [
        {"user": m.content} if m.role == "user" else {"assistant": m.content}
        for m in line.messages
        if m.role == "user" or (m.role == "assistant" and m.scripted)
    ]
    try:
        probe = Probe.model_validate(
            {
                "id": _probe_id(suite, line.id),
                "kind": kind,
                "category": line.category or DEFAULT_CATEGORY,
                "tags": line.tags,
                "turns": turns,
                "facts": (line.facts or Facts()).model_dump(),
                "good_behaviour": line.good_behaviour or DEFAULT_GOOD,
                "rubrics": rubrics,
                "source": f"imported conversation '{line.id}'",
            }
        )
    except ValidationError as exc:
        return None, [Problem(number, f"(probe built from this line) {p.field}", p.message) for p in _pydantic_problems(number, exc)]
    if not PROBE_ID.matches(probe.id):  # defensive: _probe_id always produces a valid id
        return None, [Problem(number, "id", "cannot be turned into a probe id")]
    return probe, []


def _inferred_kind(line: Line) -> str | None:
    """The one probe kind every labelled dimension applies to, if there is exactly one."""
    kinds: set[str] | None = None
    for label in line.labels:
        rubric_name, dim_name = label.dimension.split("/", 1)
        try:
            dim = load_rubric(rubric_name).dimension(dim_name)
        except (CharacterError, KeyError):
            return None
        if not dim.applies_to:
            continue
        kinds = set(dim.applies_to) if kinds is None else kinds & set(dim.applies_to)
    return next(iter(kinds)) if kinds and len(kinds) == 1 else None


def _check_label(
    number: int, index: int, label: LineLabel, probe: Probe
) -> tuple[Dimension | None, Rubric | None, list[Problem]]:
    where = f"labels[{index}]"
    rubric_name, dim_name = label.dimension.split("/", 1)
    if rubric_name not in _known_rubrics():
        return None, None, [Problem(number, f"{where}.dimension", f"unknown rubric '{rubric_name}'")]
    rubric = load_rubric(rubric_name)
    try:
        dim = rubric.dimension(dim_name)
    except KeyError:
        names = ", ".join(d.name for d in rubric.dimensions)
        return None, None, [Problem(number, f"{where}.dimension", f"rubric '{rubric_name}' has no dimension '{dim_name}' (it has {names})")]
    problems = []
    if not dim.applies(probe.kind):
        problems.append(Problem(number, f"{where}.dimension", f"'{label.dimension}' does not apply to kind '{probe.kind}'"))
    unscored_judge = label.by_kind == "judge" and label.reason and label.value is None and label.label is None
    if not unscored_judge:
        shown = label.label if dim.scale.type == "categorical" else label.value
        if shown is None:
            need = "label" if dim.scale.type == "categorical" else "value"
            problems.append(Problem(number, f"{where}.{need}", f"required for a {dim.scale.type} dimension"))
        elif not dim.scale.accepts(shown):
            allowed = dim.scale.labels if dim.scale.type == "categorical" else f"{dim.scale.low}..{dim.scale.high}"
            problems.append(Problem(number, f"{where}.{'label' if dim.scale.type == 'categorical' else 'value'}", f"{shown!r} is not on the scale ({allowed})"))
    if label.by_kind == "human" and (label.reason or label.reasoning):
        problems.append(Problem(number, where, "'reason' and 'reasoning' are for judge labels; use 'note'"))
    if label.turn is not None:
        if not dim.per_turn:
            problems.append(Problem(number, f"{where}.turn", f"'{label.dimension}' is not judged per turn"))
        elif label.turn > len(probe.user_turns):
            problems.append(Problem(number, f"{where}.turn", f"the conversation has {len(probe.user_turns)} user turn(s)"))
    return dim, rubric, problems


def check_line(number: int, raw: str, probes: ProbeIndex, default_model: str | None) -> tuple[Checked | None, list[Problem]]:
    if json_depth(raw) > MAX_DEPTH:
        return None, [Problem(number, None, f"JSON nested more than {MAX_DEPTH} levels deep")]
    try:
        data = loads_strict(raw)  # a repeated key or a lone surrogate escape is refused too
    except json.JSONDecodeError as exc:
        return None, [Problem(number, None, f"not valid JSON ({exc.msg} at column {exc.colno})")]
    except JsonContentError as exc:
        return None, [Problem(number, exc.field, f"{exc.message}; {exc.remedy}")]
    if not isinstance(data, dict):
        return None, [Problem(number, None, "a line must be a JSON object")]
    try:
        line = Line.model_validate(data)
    except ValidationError as exc:
        return None, _pydantic_problems(number, exc)
    problems = _check_messages(number, line)
    if line.model is None and default_model is None:
        problems.append(Problem(number, "model", "required (or pass --model for the whole file)"))
    suite: Suite | None = None
    turns_differ = False
    if line.probe is not None:
        clashes = [name for name in PROBE_FIELDS if name in data]
        if clashes:
            problems.append(Problem(number, clashes[0], "comes from the named probe; leave it out when 'probe' is given"))
        found = probes.get(line.probe)
        if found is None:
            problems.append(Problem(number, "probe", f"no probe '{line.probe}' in the bundled suites or --suite files"))
            return None, problems
        probe, suite = found
        users = [normalise(m.content) for m in line.messages if m.role == "user"]
        turns_differ = users != [normalise(t) for t in probe.user_turns]
    else:
        probe, synth_problems = _synthesize(number, line)
        problems += synth_problems
        if probe is None:
            return None, problems
    checked = Checked(number, line, probe, suite, [Message(m.role, m.content, m.scripted, m.simulated) for m in line.messages], turns_differ=turns_differ)
    seen: dict[tuple[str, str, int | None], int] = {}
    for index, label in enumerate(line.labels):
        key = (label.by, label.dimension, label.turn)
        if key in seen:
            problems.append(Problem(number, f"labels[{index}]", f"same judgement as labels[{seen[key]}] (by, dimension, turn)"))
            continue
        seen[key] = index
        dim, rubric, label_problems = _check_label(number, index, label, probe)
        problems += label_problems
        if dim is None or rubric is None or label_problems:
            continue
        checked.rubrics.append(rubric)
        value = label.value if dim.scale.type != "categorical" else None
        text = label.label if dim.scale.type == "categorical" else None
        if label.by_kind == "judge":
            if value is None and text is None:
                verdict = unscored(rubric.name, dim.name, f"imported judge gave no score: {label.reason}")
            else:
                verdict = Verdict(
                    rubric=rubric.name, dimension=dim.name, status="scored", value=value,
                    label=text, turn=label.turn, reasoning=label.reasoning or "",
                )
            checked.verdicts.append(JudgedVerdict(label.by, verdict))
        else:
            # On a numeric scale a human label's text is its finer class (e.g. XSTest's 3-way).
            finer = label.label if dim.scale.type != "categorical" else text
            checked.labels.append(HumanLabel(label.by, rubric.name, dim.name, value, finer, label.note))
    return (None if problems else checked), problems


# --------------------------------------------------------------------------------------------
# The file


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank line, split on "\\n" only.

    A JSON string may hold U+2028 or U+0085 unescaped; `str.splitlines` splits there and broke
    one conversation into two malformed lines. A decode error names the line and byte offset.
    """
    data = read_bytes(path, cap=IMPORT_FILE_MAX, what="file")
    lines = []
    for number, offset, raw in jsonl_lines(data, path):
        try:
            text = decode(raw, path, start=offset)
        except CharacterError as exc:
            raise CharacterError(f"line {number}: {exc.message}", file=path, remedy=exc.remedy) from None
        if text.strip():
            lines.append((number, text))
    return lines


def load(
    path: Path,
    *,
    model: str | None = None,
    name: str | None = None,
    suites: Iterable[Path] = (),
) -> list[ImportBatch]:
    """Every (model, version) group of the file as a batch; refuses the file if any line is bad."""
    path = Path(path)
    probes = ProbeIndex(suites)
    problems: list[Problem] = []
    checked: list[Checked] = []
    lines = read_lines(path)
    if not lines:
        raise CharacterError("the file is empty", file=path, remedy="one JSON object per line (docs/importing.md)")
    for number, raw in lines:
        result, line_problems = check_line(number, raw, probes, model)
        problems += line_problems
        if result is not None:
            checked.append(result)
    problems += _cross_line_problems(checked, model)
    if problems:
        raise ImportRefused(path, sorted(problems, key=lambda p: p.line or 0))
    return _batches(path, checked, model, name)


def _group_key(item: Checked, model: str | None) -> tuple[str, str | None]:
    return (item.line.model or model or "", item.line.version)


def _cross_line_problems(checked: list[Checked], model: str | None) -> list[Problem]:
    problems = []
    seen: dict[tuple, Checked] = {}
    probes: dict[tuple, Checked] = {}
    for item in checked:
        group = _group_key(item, model)
        key = (*group, item.probe.id, item.line.epoch)
        if key in seen:
            other = seen[key]
            if other.line.id == item.line.id:
                message = f"conversation '{item.line.id}' (epoch {item.line.epoch}, same model and version) is already on line {other.number}"
            elif item.line.probe is not None:  # two ids, one probe: "already there" read as false
                message = (f"conversation '{item.line.id}' plays probe '{item.probe.id}' (epoch {item.line.epoch}), as line "
                           f"{other.number}'s '{other.line.id}' does (same model and version); give one of them another epoch")
            else:  # two ids that differ only in case or punctuation
                message = (f"conversation '{item.line.id}' and line {other.number}'s '{other.line.id}' both become probe "
                           f"'{item.probe.id}' (ids are lower-cased); give them ids that differ in more than upper and lower case")
            problems.append(Problem(item.number, "id", message))
            continue
        seen[key] = item
        first = probes.setdefault((*group, item.probe.id), item)
        if first is not item and first.probe != item.probe:
            problems.append(Problem(item.number, "messages", f"another epoch of conversation '{item.line.id}' (line {first.number}) has different user turns or probe fields"))
    return problems


def _batches(path: Path, checked: list[Checked], model: str | None, name: str | None) -> list[ImportBatch]:
    file_has_judges = any(item.verdicts for item in checked)
    groups: dict[tuple[str, str | None], list[Checked]] = {}
    for item in checked:
        groups.setdefault(_group_key(item, model), []).append(item)
    batches = []
    for (group_model, version), items in groups.items():
        rubrics = {r.name: r for item in items for r in item.rubrics}
        judges = sorted({v.judge for item in items for v in item.verdicts})
        judge = None  # no judge scores anywhere in the file: the lexical judge scores it
        if file_has_judges:  # the file's judges only; a group without any gets no verdict rows
            judge = imported_judge_record(
                ", ".join(judges) or NO_JUDGE,
                {"adapter": ADAPTER, "judges": judges, "rubrics": {n: r.hash for n, r in sorted(rubrics.items())}},
            )
        batches.append(
            ImportBatch(
                adapter=ADAPTER,
                adapter_version=ADAPTER_VERSION,
                files=[path],
                model=group_model,
                version=version,
                name=name,
                group={"model": group_model, "version": version},
                conversations=[
                    Conversation(
                        probe=item.probe,
                        suite=item.probe.suite if item.suite is None else item.suite.name,
                        messages=item.messages,
                        epoch=item.line.epoch,
                        verdicts=item.verdicts,
                        labels=item.labels,
                    )
                    for item in items
                ],
                suites=_suites(items),
                rubrics=list(rubrics.values()),
                judge=judge,
                warnings=_warnings(items),
                notes={"lines": len(items)},
            )
        )
    return batches


def _suites(items: list[Checked]) -> list[Suite]:
    """Named probes keep their suite; synthesized ones form a suite per name, hashed on content."""
    named = {item.suite.name: item.suite for item in items if item.suite is not None}
    synthesized: dict[str, dict[str, Probe]] = {}
    for item in items:
        if item.suite is None:
            synthesized.setdefault(item.probe.suite, {})[item.probe.id] = item.probe
    for suite_name, probes in synthesized.items():
        if suite_name in named:
            raise CharacterError(
                f"suite '{suite_name}' mixes bundled probes with conversations that have none",
                remedy="give the conversations without a probe another 'suite' name",
            )
        named[suite_name] = Suite(
            name=suite_name,
            version=1,
            description="Conversations imported with `character import` (probes synthesized from the file).",
            probes=[probes[key] for key in sorted(probes)],
        )
    return list(named.values())


def _warnings(items: list[Checked]) -> list[str]:
    differ = [item for item in items if item.turns_differ]
    if not differ:
        return []
    shown = ", ".join(f"line {item.number}" for item in differ[:10])
    return [
        f"{len(differ)} conversation(s) name a probe but their user turns differ from it ({shown}); "
        "the transcripts keep the file's wording"
    ]


def sniff(path: Path) -> bool:
    return Path(path).suffix.lower() in (".jsonl", ".ndjson")
