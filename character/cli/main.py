"""The `character` command: a thin layer over run, analysis and viewer modules.

User mistakes raise CharacterError anywhere below; here they become one line on stderr and exit
code 2, never a traceback. So do disk and permission problems (OSError) that escape a command.
Anything else is a bug in character: one line "internal error: ... (please report; details in
<store>/_logs/...)", exit 2, with the traceback kept in that file for the report.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

import click

from character import __version__
from character.errors import EXIT_USER_ERROR, CharacterError, one_line_text, os_error
from character.redact import scrub, scrubbed_terminal
from character.store.layout import INTERNAL_LOGS

# Each module exposes `COMMANDS: list[click.Command]`; one module per group of related commands.
# A module is imported only when one of its commands runs (or --help lists them all): importing
# compare/scipy for every `character run` cost 1.7 s of start-up (bench/throughput).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "character.cli.run_commands": ("suites", "run", "runs", "show", "judge"),
    "character.cli.compare_commands": ("compare", "gate", "report"),
    "character.cli.nightly_command": ("nightly",),
    "character.cli.demo_command": ("demo",),
    "character.cli.view_command": ("view",),
    "character.cli.import_commands": ("import", "calibrate"),
    "character.cli.rebuild_command": ("rebuild",),
    "character.cli.authoring_commands": ("check", "schema", "expand"),
    "character.cli.judge_diff_command": ("judge-diff",),
}
MODULE_OF = {name: module for module, names in COMMAND_MODULES.items() for name in names}


class CharacterGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(MODULE_OF)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = MODULE_OF.get(name)
        if module is None:
            return None
        commands = {c.name: c for c in importlib.import_module(module).COMMANDS}
        return commands[name]

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            with scrubbed_terminal():  # no API key reaches the terminal, whoever prints it
                return super().invoke(ctx)
        except CharacterError as exc:
            click.echo(f"error: {scrub(exc.one_line())}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except OSError as exc:  # a full disk, an unreadable folder: the environment, not a bug
            click.echo(f"error: {scrub(os_error(exc).one_line())}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except click.UsageError as exc:  # a bad option value, a missing argument: still one line
            click.echo(scrub(usage_line(exc, ctx.invoked_subcommand)), err=True)
            ctx.exit(EXIT_USER_ERROR)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own exits
        except Exception as exc:  # a bug: say so in one line, keep the traceback for the report
            echo_internal_error(ctx, exc)
            ctx.exit(EXIT_USER_ERROR)

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[no-untyped-def]
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # e.g. --store naming a file
            click.echo(scrub(usage_line(exc, None)), err=True)
            raise click.exceptions.Exit(EXIT_USER_ERROR) from None


def usage_line(exc: click.UsageError, command: str | None) -> str:
    """click's usage error as the one line every other error is: field, message, fix."""
    param = getattr(exc, "param", None)
    if isinstance(param, click.Option):
        name = max(param.opts, key=len)
    else:
        name = getattr(param, "human_readable_name", None)
    specific = isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter)
    message = exc.message if specific else exc.format_message()
    where = f"field '{name}': " if name and specific else ""
    help_command = f"character {command} --help" if command else "character --help"
    return one_line_text(f"error: {where}{message} (fix: see `{help_command}`)")


def echo_internal_error(ctx: click.Context, exc: BaseException) -> None:
    """The one terminal-safe stderr line for a bug, its traceback kept (`internal_error`). Also
    used by `gate` and `nightly`, which catch everything themselves to keep their exit codes."""
    click.echo(scrub(one_line_text(internal_error(ctx, exc))), err=True)


def internal_error(ctx: click.Context, exc: BaseException) -> str:
    """The one line for an unexpected exception; its traceback goes to <store>/_logs/.

    An existing store gets the file (the folder is never a run: it has no manifest); otherwise
    the system's temporary folder does, so reporting a bug never creates a store.
    """
    store = Path((ctx.obj or {}).get("store") or "transcripts")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"internal-error-{stamp}-{os.getpid()}.log"
    text = scrub("".join(traceback.format_exception(exc)))  # an error may echo an API key
    where = None
    for folder in ((store / INTERNAL_LOGS) if store.is_dir() else None, Path(tempfile.gettempdir()) / "character-logs"):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
            where = folder / name
            break
        except OSError:
            continue
    summary = str(exc).splitlines()[0][:200] if str(exc) else ""
    kind = f"{type(exc).__name__}: {summary}".rstrip(": ")
    details = f"details in {where}" if where else "no log could be written"
    return f"internal error: {kind} (please report; {details})"


@click.group(cls=CharacterGroup)
@click.version_option(__version__, prog_name="character")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CHARACTER_STORE",
    default="transcripts",
    show_default=True,
    help="Run store folder (env CHARACTER_STORE).",
)
@click.pass_context
def cli(ctx: click.Context, store: Path) -> None:
    """Regression-test the character of LLM assistants."""
    # Whether --store (or CHARACTER_STORE) was given: a command that reads a `store` from
    # character.toml uses it only when the user did not name one.
    given = ctx.get_parameter_source("store") != click.core.ParameterSource.DEFAULT
    ctx.obj = {"store": store, "store_given": given}



def main() -> None:
    cli(prog_name="character")


if __name__ == "__main__":
    main()
