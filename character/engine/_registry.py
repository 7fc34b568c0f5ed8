"""Loaded by inspect-ai through the `inspect_ai` entry point (see pyproject.toml).

Importing registers the `sim/...` and `local/...` model providers and the `character` task with
inspect. Neither provider imports its runtime here: `local/` loads llama.cpp on first use.
"""

from character.engine.local_provider import local  # noqa: F401
from character.engine.sim_provider import sim  # noqa: F401
from character.engine.task import character  # noqa: F401
