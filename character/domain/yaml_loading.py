"""Strict YAML loading for probes, rubrics and configs: now part of `character.boundary`.

Kept so that `from character.domain.yaml_loading import validation_error` keeps working; new code
imports from `character.boundary.reading` and `character.boundary.errors`.
"""

from __future__ import annotations

from character.boundary.errors import describe_error, validation_error
from character.boundary.reading import read_text as read_user_text
from character.boundary.reading import read_yaml

__all__ = ["describe_error", "read_user_text", "read_yaml", "validation_error"]
