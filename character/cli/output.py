"""Printing stored text to a terminal: every control, bidi and invisible character made visible.

A model name, a category, a transcript or a judge's reasoning read from the store may hold an
escape sequence (`\\x1b[2K\\r\\x1b[32mEVERYTHING PASSED`) that would rewrite the terminal line, or
a right-to-left override that reorders what is shown. Commands print such text through `echo`.
"""

from __future__ import annotations

import click

from character.boundary.text import terminal_safe


def echo(text: object = "", *, err: bool = False, nl: bool = True) -> None:
    """click.echo of `text` with newlines and tabs kept and every other hidden character marked."""
    click.echo(terminal_safe(text), err=err, nl=nl)
