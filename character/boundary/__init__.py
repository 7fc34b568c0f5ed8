"""The boundary: everything character reads from outside passes through here first.

Files (probe suites, rubrics, character.toml, system prompts, imports), values (CLI options,
config keys, import fields), identifiers, paths, and the stored tables and manifests (which a
crash, an older version or a hand edit may have damaged) are checked here, and every problem is
one `CharacterError` naming the file, the field, the value and the fix. Text leaving for a
terminal, Markdown or HTML is made inert here too.

* `reading`: size-capped reads, decoding with byte offsets, JSON depth, strict YAML, TOML, JSONL, CSV
* `values`: one range per numeric quantity, for CLI options, config keys and import fields
* `ids`: identifiers matched whole (`\\A...\\Z`)
* `paths`: paths resolved under their root; symlinks out of it refused
* `text`: control, bidi and invisible characters made visible; Markdown escaping
* `errors`: pydantic validation errors as CharacterErrors
"""
