"""`character view [STORE]`: open the Streamlit viewer on a run store."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import click

import character
from character.boundary import values
from character.cli.options import Bounded
from character.errors import CharacterError

DEFAULT_PORT = 8501
# Transcripts are private, and a wildcard address makes streamlit look up its public IP on a
# remote service: serve on this machine only unless asked (--address 0.0.0.0 in a container).
DEFAULT_ADDRESS = "localhost"


def app_script() -> Path:
    """app.py at the root of a source checkout, else the copy a wheel ships inside the package."""
    package = Path(character.__file__).resolve().parent
    for script in (package.parent / "app.py", package / "_app.py"):
        if script.is_file():
            return script
    raise CharacterError(
        "the viewer's app.py is not installed with this copy of character",
        file=package,
        remedy="reinstall character (`pip install -e .` from a checkout)",
    )


def viewer_command(
    store: Path, *, port: int = DEFAULT_PORT, headless: bool = False, address: str = DEFAULT_ADDRESS
) -> list[str]:
    """The streamlit command line; settings repeat .streamlit/config.toml so they hold from any folder."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_script()),
        "--browser.gatherUsageStats",
        "false",
        "--server.showEmailPrompt",
        "false",
        "--runner.magicEnabled",
        "false",
        "--server.headless",
        "true" if headless else "false",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--",
        "--store",
        str(store),
    ]


@click.command()
@click.argument("store", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=Bounded(values.PORT),
    help="Port to serve on.",
)
@click.option(
    "--address",
    default=DEFAULT_ADDRESS,
    show_default=True,
    help="Address to serve on (0.0.0.0 to reach it from other machines).",
)
@click.option(
    "--headless/--open-browser",
    default=None,
    help="Do not open a browser tab (default: headless when not run from a terminal).",
)
@click.pass_context
def view(
    ctx: click.Context, store: Path | None, port: int, address: str, headless: bool | None
) -> None:
    """Read, filter, compare and label transcripts in the browser (STORE: default --store)."""
    folder = Path(store or ctx.obj["store"]).expanduser().resolve()
    if not folder.is_dir():
        raise CharacterError(
            "no run store here",
            file=folder,
            remedy="run `character demo` first, or pass the folder that holds your runs",
        )
    if headless is None:
        headless = not sys.stdout.isatty()
    command = viewer_command(folder, port=port, headless=headless, address=address)
    click.echo(f"character viewer on {folder}")
    host = "localhost" if address in ("0.0.0.0", "::") else address
    click.echo(f"open http://{host}:{port} in a browser (Ctrl+C stops the viewer)")
    process = subprocess.Popen(command)
    # Ctrl+C reaches streamlit too (same process group); a SIGTERM sent to this process alone is
    # passed on, so stopping `character view` never leaves a server behind.
    previous = signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        code = process.wait()
    except KeyboardInterrupt:
        code = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    ctx.exit(code)


COMMANDS = [view]
