"""`character check`: what `run` would reject in suites, rubrics and character.toml, plus the
warnings a run would not give.

Errors come from the same loaders `run` uses (`load_suite`, `load_suite_rubrics`,
`load_rubric_file`, `load_config`, `Config.target`), so `check` and `run` can never disagree about
what is valid; a loader stops at a file's first error, so each file reports at most one. Warnings
come from `character.domain.lint` (facts, wording, duplicates, rubric coverage) and
`character.engine.judge_coverage` (dimensions the chosen judge cannot score).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from character.domain.config import CONFIG_FILE, Config, load_config
from character.domain.lint import (
    Finding,
    count,
    duplicate_findings,
    rubric_findings,
    suite_findings,
)
from character.domain.probes import Suite, load_suite, resolve_suite
from character.domain.rubrics import Rubric, load_rubric, load_rubric_file, load_suite_rubrics
from character.domain.yaml_loading import read_yaml
from character.engine.judge_coverage import (
    judged_on_nothing,
    unscorable,
    unscorable_message,
    unscorable_remedy,
)
from character.errors import CharacterError
from character.run.judges import DEFAULT_JUDGE_MODEL, JudgeSpec, resolve_judge

FileType = Literal["suite", "rubric", "config", "unknown"]

EXIT_CLEAN, EXIT_WARNINGS, EXIT_ERRORS = 0, 1, 2


@dataclass
class CheckedFile:
    path: str
    type: FileType


@dataclass
class CheckReport:
    judge: str  # the judge whose coverage was checked
    files: list[CheckedFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return count(self.findings, "error")

    @property
    def warnings(self) -> int:
        return count(self.findings, "warning")

    @property
    def exit_code(self) -> int:
        """0 clean, 1 warnings only, 2 any error."""
        return EXIT_ERRORS if self.errors else EXIT_WARNINGS if self.warnings else EXIT_CLEAN

    def as_dict(self) -> dict:
        return {
            "judge": self.judge,
            "files": [{"path": f.path, "type": f.type} for f in self.files],
            "errors": self.errors,
            "warnings": self.warnings,
            "exit_code": self.exit_code,
            "findings": [finding.as_dict() for finding in self.findings],
        }


def judge_for_check(choice: str) -> JudgeSpec:
    """The judge to check coverage for. No API key is needed: nothing is called."""
    if "/" in choice:
        return JudgeSpec(kind="model", model=choice)
    return resolve_judge(choice)  # auto / lexical; anything else is the usual error


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files to check: files as given; a folder's *.yaml, *.yml and character.toml (not nested)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.iterdir()
                if p.is_file() and (p.suffix in (".yaml", ".yml") or p.name == CONFIG_FILE)
            )
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def file_type(path: Path) -> FileType:
    """What a file is, by its extension and top-level keys. Unreadable files raise CharacterError."""
    if path.suffix == ".toml":
        return "config"
    data = read_yaml(path)
    if isinstance(data, dict) and "probes" in data:
        return "suite"
    if isinstance(data, dict) and "dimensions" in data:
        return "rubric"
    return "unknown"


def check_paths(paths: list[Path], judge: JudgeSpec) -> CheckReport:
    report = CheckReport(judge=judge.id)
    suites: list[tuple[Suite, Path]] = []
    suite_rubrics: dict[str, Rubric] = {}
    rubric_files: list[tuple[Rubric, Path]] = []
    configs: list[tuple[Config, Path]] = []
    for path in expand_paths(paths):
        try:
            kind = file_type(path)
        except CharacterError as exc:
            report.files.append(CheckedFile(str(path), "unknown"))
            report.findings.append(Finding.from_error(exc))
            continue
        report.files.append(CheckedFile(str(path), kind))
        try:
            if kind == "suite":
                suite = load_suite(path)
                for rubric in load_suite_rubrics(suite, path):
                    suite_rubrics[rubric.name] = rubric
                suites.append((suite, path))
            elif kind == "rubric":
                rubric_files.append((load_rubric_file(path), path))
            elif kind == "config":
                configs.append((load_config(path), path))
            else:
                report.findings.append(
                    Finding(
                        "error",
                        "unknown_file",
                        "neither a probe suite (no 'probes:') nor a rubric (no 'dimensions:')",
                        str(path),
                        None,
                        "check the file; `character schema probe|rubric` shows both formats",
                    )
                )
        except CharacterError as exc:
            report.findings.append(Finding.from_error(exc))

    for suite, path in suites:
        rubrics = {
            name: suite_rubrics[name] for name in {n for p in suite.probes for n in p.rubrics}
        }
        report.findings += suite_findings(suite, path, rubrics)
        report.findings += _coverage(judge, suite, path, rubrics)
    report.findings += duplicate_findings(suites)

    declared = {kind for suite, _path in suites for kind in suite.kinds} if suites else None
    reported = {f"{r.name}/{d.name}" for r in suite_rubrics.values() for d in r.dimensions}
    for rubric, path in rubric_files:
        report.findings += rubric_findings(rubric, path, declared)
        report.findings += _lookup(rubric, path)
        for item in unscorable(judge.kind, [rubric]):
            if item.key not in reported:
                report.findings.append(
                    Finding(
                        "warning",
                        "unscorable_dimension",
                        unscorable_message(item),
                        str(path),
                        f"dimensions[{_dim_index(rubric, item.dimension)}]",
                        unscorable_remedy(DEFAULT_JUDGE_MODEL),
                    )
                )

    for config, path in configs:
        report.findings += _config_findings(config, path)
    return report


def _dim_index(rubric: Rubric, name: str) -> int:
    return next(i for i, dim in enumerate(rubric.dimensions) if dim.name == name)


def _coverage(
    judge: JudgeSpec, suite: Suite, path: Path, rubrics: dict[str, Rubric]
) -> list[Finding]:
    findings = []
    for item in unscorable(judge.kind, list(rubrics.values()), [suite]):
        findings.append(
            Finding(
                "warning",
                "unscorable_dimension",
                unscorable_message(item),
                str(path),
                None,
                unscorable_remedy(DEFAULT_JUDGE_MODEL),
            )
        )
    nothing = judged_on_nothing(judge.kind, rubrics, suite)
    if nothing:
        shown = ", ".join(nothing[:5]) + (
            f" and {len(nothing) - 5} more" if len(nothing) > 5 else ""
        )
        findings.append(
            Finding(
                "warning",
                "judged_on_nothing",
                f"{len(nothing)} probe(s) would be judged on nothing by {judge.id}: every "
                f"dimension that applies to them is unscorable by it ({shown})",
                str(path),
                None,
                f"judge with a model judge (--judge {DEFAULT_JUDGE_MODEL}), or add a bundled rubric "
                "the lexical judge has rules for",
            )
        )
    return findings


def _lookup(rubric: Rubric, path: Path) -> list[Finding]:
    """A rubric file a run would not find under its name (runs look rubrics up by name)."""
    try:
        found = load_rubric(rubric.name)
    except CharacterError:
        found = None
    if found is not None and found.hash == rubric.hash:
        return []
    where = "finds another rubric of that name" if found is not None else "would not find it"
    return [
        Finding(
            "warning",
            "rubric_not_found",
            f"a run looks rubric '{rubric.name}' up by name and {where}: rubrics are read from "
            "$CHARACTER_RUBRICS, ./rubrics/ and the bundled rubrics, first match wins",
            str(path),
            "name",
            f"put the file at rubrics/{rubric.name}.yaml (or set CHARACTER_RUBRICS to its folder)",
        )
    ]


def _config_findings(config: Config, path: Path) -> list[Finding]:
    findings: list[Finding] = []
    for name in config.targets:
        try:
            config.target(name)
        except CharacterError as exc:
            findings.append(Finding.from_error(exc))
    judge = config.judge.model
    if judge not in ("auto", "lexical") and "/" not in judge:
        findings.append(
            Finding(
                "error",
                "invalid",
                f"judge '{judge}' is not 'auto', 'lexical' or a provider/model id",
                str(path),
                "judge.model",
                f'e.g. model = "{DEFAULT_JUDGE_MODEL}" or "lexical"',
            )
        )
    for section, names in (("gate", config.gate.suites), ("nightly", config.nightly.suites)):
        for index, name in enumerate(names):
            try:
                suite_path = resolve_suite(name)
                suite = load_suite(suite_path)
                load_suite_rubrics(suite, suite_path)
                if suite.generated is not None:
                    findings.append(
                        Finding(
                            "warning",
                            "generated_suite_gates",
                            f"suite '{name}' was generated by `character expand` (from "
                            f"{suite.generated.seed_probe}): generated suites are exploratory, "
                            "and the gate refuses them unless --allow-generated is given",
                            str(path),
                            f"{section}.suites[{index}]",
                            "gate on suites you wrote and reviewed; run generated ones on their own",
                        )
                    )
            except CharacterError as exc:
                findings.append(
                    Finding(
                        "error",
                        "invalid",
                        exc.message,
                        exc.file or str(path),
                        exc.field if exc.file else f"{section}.suites[{index}]",
                        exc.remedy,
                    )
                )
    for name in config.nightly.targets:
        if name not in config.targets:  # defined targets were checked above
            try:
                config.target(name)  # the error nightly would raise
            except CharacterError as exc:
                findings.append(Finding.from_error(exc))
    for option, keys in (
        ("gate.gating", config.gate.gating or []),
        ("gate.margins", list(config.gate.margins)),
    ):
        for key in keys:
            problem = _dimension_problem(key)
            if problem:
                findings.append(
                    Finding(
                        "warning",
                        "unknown_dimension",
                        problem,
                        str(path),
                        option,
                        "write rubric/dimension of an installed rubric",
                    )
                )
    return findings


def _dimension_problem(key: str) -> str | None:
    rubric_name, _sep, dimension = key.partition("/")
    try:
        rubric = load_rubric(rubric_name)
    except CharacterError:
        return f"'{key}' names rubric '{rubric_name}', which is not installed"
    names = {dim.name for dim in rubric.dimensions}
    if dimension and dimension not in names:
        return f"'{key}': rubric '{rubric_name}' has no dimension '{dimension}' (it has {', '.join(sorted(names))})"
    return None
