"""What every benchmark shares: the machine record, tables, result files, child processes."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "reports" / "bench"
PACKAGES = (
    "inspect_ai",
    "anthropic",
    "polars",
    "pyarrow",
    "numpy",
    "scipy",
    "streamlit",
    "pydantic",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """The machine, software and moment a benchmark ran on (recorded with every result)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        from character import __version__ as character_version
    except ImportError:  # pragma: no cover - bench always runs inside the repo
        character_version = None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gib": memory_gib(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "character": character_version,
        "packages": versions,
    }


def machine_line(info: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v)
    return (
        f"{info['date']} · {info['nproc']} cores ({info['cpu']}), {info['memory_gib']} GiB · "
        f"load {'/'.join(str(x) for x in info['load_average'])} · Python {info['python']} · {packages}"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _met(ok: bool | str | None) -> str:
    if ok is None or isinstance(ok, str):
        return ok or ""
    return "yes" if ok else "NO"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


@dataclass
class Report:
    """One benchmark's outcome: headline figures, tables and notes, saved as JSON + Markdown."""

    name: str
    title: str
    mode: str
    settings: dict[str, Any]
    tables: list[tuple[str, str]] = field(default_factory=list)  # (caption, markdown table)
    headline: list[dict[str, Any]] = field(default_factory=list)  # {figure, value, aim, ok}
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=machine)
    seconds: float = 0.0

    def add_table(self, caption: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.tables.append((caption, table(headers, rows)))

    def add_headline(
        self, figure: str, value: str, aim: str | None = None, ok: bool | str | None = None
    ) -> None:
        """`ok`: True / False, None (no aim), or a word such as "within error" for a simulated rate."""
        self.headline.append({"figure": figure, "value": value, "aim": aim, "ok": ok})

    def markdown(self) -> str:
        parts = [f"## {self.title} ({self.mode})", "", f"Machine: {machine_line(self.machine)}", ""]
        parts.append("Settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()))
        parts.append("")
        if self.headline:
            rows = [
                [h["figure"], h["value"], h["aim"] or "", _met(h["ok"])]
                for h in self.headline
            ]
            parts += ["Headline:", "", table(["figure", "value", "aim", "met"], rows), ""]
        for caption, text in self.tables:
            parts += [caption, "", text, ""]
        for note in self.notes:
            parts.append(f"- {note}")
        parts.append(f"\n(benchmark took {self.seconds:.1f} s)")
        return "\n".join(parts).rstrip() + "\n"

    def finish(self, seconds: float, out_dir: Path | None) -> Report:
        """Record how long the benchmark took and save it (when `out_dir` is given)."""
        self.seconds = seconds
        if out_dir is not None:
            self.save(out_dir)
        return self

    def save(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "name": self.name,
            "title": self.title,
            "mode": self.mode,
            "settings": self.settings,
            "machine": self.machine,
            "headline": self.headline,
            "tables": [{"caption": c, "markdown": t} for c, t in self.tables],
            "notes": self.notes,
            "data": self.data,
            "seconds": round(self.seconds, 2),
        }
        (out_dir / f"{self.name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
        path = out_dir / f"{self.name}.md"
        path.write_text(self.markdown())
        return path


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


@dataclass
class ChildResult:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mib: float | None
    payload: dict[str, Any] | None
    cpu_s: float  # user + system CPU seconds the child used


def run_child(
    module_args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout_s: float = 300.0,
    cwd: Path | None = None,
) -> ChildResult:
    """Run ``python -m ...`` (or any argv after the interpreter) in a fresh process.

    Wall time and CPU time are measured here (the CPU time includes the child's own children).
    If the child prints a line ``BENCH_JSON {...}`` (see `emit`), it is parsed; `emit` adds the
    child's peak RSS.
    """
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("PYTHONPATH", str(REPO))
    if str(REPO) not in full_env["PYTHONPATH"].split(os.pathsep):
        full_env["PYTHONPATH"] = f"{REPO}{os.pathsep}{full_env['PYTHONPATH']}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *module_args],
        env=full_env,
        cwd=str(cwd or REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise RuntimeError(f"benchmark child timed out after {timeout_s:.0f} s: {' '.join(module_args)}") from None
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # RUSAGE_CHILDREN keeps only a running maximum of RSS, so the child reports its own peak.
    payload = None
    for line in reversed(stdout.splitlines()):
        if line.startswith("BENCH_JSON "):
            payload = json.loads(line[len("BENCH_JSON ") :])
            break
    peak = payload.get("peak_rss_mib") if payload else None
    return ChildResult(seconds, proc.returncode, stdout, stderr, peak, payload, cpu_s)


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(payload: dict[str, Any]) -> None:
    """Hand a child's measurements to `run_child` (the last line of stdout)."""
    payload = {**payload, "peak_rss_mib": round(peak_rss_mib(), 1)}
    print("BENCH_JSON " + json.dumps(payload, default=str), flush=True)
