"""JSON Schema for probe-suite and rubric files, generated from the pydantic models.

Editors validate YAML while typing with it (the YAML language server reads a first-line comment
`# yaml-language-server: $schema=suite.schema.json`). The schema is what pydantic derives from
`Suite` and `Rubric`, plus what pydantic cannot see: user turns written as plain strings, the
built-in probe kinds offered for completion, the id and name patterns the validators enforce, and
a one-line description per field. The loaders stay the authority: a few rules (probe ids start
with the suite name, facts.safe agrees with the kind, rubrics exist) are checked only on load.

The shipped copies (`character/suites/suite.schema.json`, `rubrics/rubric.schema.json`) are this
module's output; a test keeps them in step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from character.domain.probes import BUILTIN_KINDS, BUNDLED_SUITES_DIR, KIND_NAME, PROBE_ID, Suite
from character.domain.rubrics import Rubric

SchemaName = Literal["probe", "rubric"]
DIALECT = "https://json-schema.org/draft/2020-12/schema"
SUITE_SCHEMA_FILE = "suite.schema.json"
RUBRIC_SCHEMA_FILE = "rubric.schema.json"
SCHEMA_COMMENT = "# yaml-language-server: $schema={}"

# One line per field, shown by editors on hover. docs/authoring.md explains each at length.
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Suite": {
        "name": "Suite name; must equal the file name without .yaml. Probe ids start with it.",
        "version": "Bump when probes change meaning; runs record it with the suite's content hash.",
        "description": "What the suite tests, in a sentence or two.",
        "source": "Where converted probes came from (dataset and row ids).",
        "license": "Licence of converted probes.",
        "kinds": "Probe kinds this suite declares for itself, with the facts each requires.",
        "generated": "Provenance written by `character expand`. Generated suites never gate.",
        "probes": "The scripted conversations.",
    },
    "KindSpec": {
        "description": "What situation a probe of this kind sets up.",
        "requires": "Facts every probe of this kind must give (checked on load).",
    },
    "Probe": {
        "id": "<suite>.<name>: lower-case letters, digits, '.', '_' and '-'. Unique.",
        "kind": "The situation the probe sets up: a built-in kind or one declared under kinds:.",
        "category": "Free-text topic (reports break results down by it).",
        "tags": "Free-text labels, e.g. the pressure tactics used.",
        "turns": "User turns in order (plain strings), optionally with pre-filled assistant turns.",
        "facts": "What the judge needs to tell good from bad behaviour.",
        "good_behaviour": "What a good assistant does; shown to the judge.",
        "rubrics": "Rubrics (by name) the probe is judged on.",
        "pair": "Mirroring probes: id of the twin with the stance flipped.",
        "hard_constraint": "Must pass in every epoch; gated without statistics.",
        "source": "Where the probe came from (dataset row, or the seed of a generated variant).",
        "user": "An adaptive user: after the scripted turns a model plays the person (see SimulatedUser).",
    },
    "SimulatedUser": {
        "model": "provider/model that plays the person (inspect's `user` role); never the target. "
        "sim/user is the offline simulator. `character run --user-model` overrides it.",
        "persona": "The persona card: who the person is, what they believe, how they talk.",
        "goal": "What the person wants the assistant to say or do (reached: the conversation ends).",
        "max_turns": "User turns in all, the scripted opening included (2 to 40).",
        "tactics": "Pressure the person may apply: insist, escalate, flatter, authority, "
        "social_proof, guilt, threaten.",
        "temperature": "Sampling temperature of the user model (the same for both versions).",
        "seed": "Base seed; each sample's seed is derived from it, the probe id and the epoch.",
    },
    "Turn": {
        "user": "What the scripted user says.",
        "assistant": "A pre-filled assistant reply (history the model did not write).",
    },
    "Facts": {
        "correct_answer": "The right answer the assistant should give and keep.",
        "wrong_claim": "The user's incorrect belief or pushback.",
        "correction": "valid_correction: what the user rightly points out.",
        "false_premise": "The false assumption or bad plan the request rests on.",
        "flaws": "feedback: the real flaws in the user's work.",
        "stance": "mirroring: the position the user states.",
        "safe": "Whether the request is safe to answer (implied by safe_request / harmful_request).",
        "notes": "Anything else the judge should know.",
    },
    "Provenance": {
        "seed_probe": "Id of the probe the variants were written from.",
        "seed_suite": "Suite of the seed probe.",
        "seed_suite_hash": "Content hash of the seed's suite when the variants were written.",
        "generator": "provider/model that wrote the variants.",
        "prompt_hash": "Hash of the exact generator prompt.",
        "date": "When the variants were written (UTC).",
        "variations": "What was varied: paraphrase, pressure, persona, domain.",
        "requested": "Variants asked for.",
        "accepted": "Variants kept.",
        "rejected": "Variants dropped, by reason.",
    },
    "Rubric": {
        "name": "Rubric name; must equal the file name without .yaml.",
        "version": "Bump when a question or scale changes; runs record the content hash.",
        "description": "What the rubric judges.",
        "dimensions": "The questions the judge answers, one score each.",
    },
    "Dimension": {
        "name": "Lower-case name, unique in the rubric (reports show rubric/name).",
        "question": "What the judge answers about the assistant; may refer to facts.<name>.",
        "scale": "binary (0/1), ordinal (an anchor text per level) or categorical (labels).",
        "worse": "Which direction is worse: higher or lower.",
        "worse_labels": "Categorical scales: the labels that are bad.",
        "per_turn": "Also record the first turn at which the behaviour appeared.",
        "each_turn": "Judge every assistant turn (a 0/1 per turn: survival by turn, number of flips). "
        "Needs binary, worse: higher, per_turn: true.",
        "applies_to": "Probe kinds this dimension judges; leave out for every kind.",
        "gating": "Whether it decides the CI gate (false: exploratory).",
        "margin": "Equivalence margin: a rate in [0, 1] or scale points.",
        "guidance": "Extra instructions to the judge for hard cases.",
        "on_provider_block": "Last reply blocked by the provider: judge, unscored, or {score: V}.",
        "on_truncated": "Last reply cut at the token limit: judge, unscored, or {score: V}.",
        "on_empty": "Last reply empty (no text): judge, unscored, or {score: V}.",
    },
    "ScoreRule": {
        "score": "The value such a reply counts as: a level of the scale, or one of its labels.",
    },
    "Scale": {
        "type": "binary, ordinal or categorical.",
        "levels": "Ordinal: an anchor text for each of >= 3 consecutive integer levels.",
        "labels": "Categorical: >= 2 labels.",
    },
}


def _describe(schema: dict[str, Any], root: str) -> None:
    defs = schema.get("$defs", {})
    for model, fields in DESCRIPTIONS.items():
        target = schema if model == root else defs.get(model)
        if target is None:
            continue
        for name, text in fields.items():
            if name in target.get("properties", {}):
                target["properties"][name]["description"] = text


def _finish(schema: dict[str, Any], root: str, title: str) -> dict[str, Any]:
    _describe(schema, root)
    schema["title"] = title
    return {"$schema": DIALECT, **schema}


def suite_schema() -> dict[str, Any]:
    """JSON Schema of a probe-suite file."""
    schema = Suite.model_json_schema()
    probe = schema["$defs"]["Probe"]["properties"]
    probe["id"]["pattern"] = PROBE_ID.schema_pattern
    # Built-in kinds are offered for completion; a suite may declare others (checked on load).
    probe["kind"] = {
        "anyOf": [{"enum": list(BUILTIN_KINDS)}, {"type": "string", "pattern": KIND_NAME.pattern}]
    }
    # A turn written as a plain string is a user turn (the loader converts it).
    probe["turns"]["items"] = {
        "anyOf": [{"type": "string", "minLength": 1}, {"$ref": "#/$defs/Turn"}]
    }
    probe["turns"]["minItems"] = 1
    schema["properties"]["kinds"]["propertyNames"] = {"pattern": KIND_NAME.pattern}
    return _finish(schema, "Suite", "character probe suite")


def rubric_schema() -> dict[str, Any]:
    """JSON Schema of a rubric file."""
    schema = Rubric.model_json_schema()
    dimension = schema["$defs"]["Dimension"]["properties"]
    dimension["applies_to"]["anyOf"][0]["items"] = {
        "anyOf": [{"enum": list(BUILTIN_KINDS)}, {"type": "string", "pattern": KIND_NAME.pattern}]
    }
    levels = schema["$defs"]["Scale"]["properties"]["levels"]["anyOf"][0]
    levels["propertyNames"] = {"pattern": "^-?[0-9]+$"}
    return _finish(schema, "Rubric", "character rubric")


SCHEMAS = {"probe": suite_schema, "rubric": rubric_schema}


def schema_text(name: SchemaName) -> str:
    """The schema as the JSON text that is shipped (stable key order, trailing newline)."""
    return json.dumps(SCHEMAS[name](), indent=2, ensure_ascii=False) + "\n"


def shipped_schema_paths() -> dict[SchemaName, Path]:
    """Where the bundled copies live: beside the files they describe (source checkout or wheel)."""
    package = Path(__file__).resolve().parent.parent
    bundled_rubrics = next(
        (d for d in (package.parent / "rubrics", package / "_bundled_rubrics") if d.is_dir()),
        package.parent / "rubrics",
    )
    return {
        "probe": BUNDLED_SUITES_DIR / SUITE_SCHEMA_FILE,
        "rubric": bundled_rubrics / RUBRIC_SCHEMA_FILE,
    }
