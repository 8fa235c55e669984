"""The one bounded, strict reader for every YAML file or text labkit reads.

Whatever the input (a stray binary file, a FIFO, ``/dev/zero``, an alias bomb, a list nested
100,000 deep), the answer is a :class:`~labkit.errors.ManifestError` naming the file, never a
traceback, a hang or unbounded memory:

- :func:`read_text`: regular files only (a FIFO or a device would block or never end), at most
  :data:`MAX_FILE_BYTES`, UTF-8 (what kubectl reads; a UTF-8 byte-order mark is allowed);
- :func:`parse_documents`: PyYAML's safe subset plus no duplicate keys, mapping keys that are
  scalars, at most :data:`MAX_DEPTH` levels of nesting, and alias expansion bounded by the rule
  of the Go YAML decoder behind kubectl;
- :func:`inside`: whether a path stays in or below a directory (kustomize's file rule).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Iterator

import yaml

from .errors import ManifestError

#: The largest file labkit reads as YAML: far above any course manifest (the biggest shipped
#: file is under 10 KB), small enough that parsing and checking stay within seconds.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Deepest nesting of mappings and lists (the shipped manifests nest at most 12 levels); deeper
#: input would exhaust Python's recursion in the composer or the schema check.
MAX_DEPTH = 100

# Alias expansion (a "billion laughs" file): gopkg.in/yaml.v2 v2.4.0 decode.go and
# go.yaml.in/yaml/v3 decode.go (used by sigs.k8s.io/yaml, hence kubectl) count decoded nodes
# and the nodes reached through an alias, and fail with "document contains excessive aliasing"
# when more than 100 aliased nodes make up more than allowedAliasRatio(decoded) of a document
# of over 1,000 nodes. labkit applies the same rule to the expanded tree.
_ALIAS_RANGE_LOW = 400_000
_ALIAS_RANGE_HIGH = 4_000_000


def allowed_alias_ratio(decoded: int) -> float:
    """The share of a document's nodes that may come from alias expansion (Go yaml's rule)."""
    if decoded <= _ALIAS_RANGE_LOW:
        return 0.99
    if decoded >= _ALIAS_RANGE_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_RANGE_LOW) / (_ALIAS_RANGE_HIGH - _ALIAS_RANGE_LOW)


def excessive_aliasing(decoded: int, aliased: int) -> bool:
    """True when ``aliased`` of ``decoded`` nodes is more alias expansion than kubectl accepts."""
    return aliased > 100 and decoded > 1000 and aliased / decoded > allowed_alias_ratio(decoded)


def display_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter messages)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return str(p)


_shown = display_path


def read_text(path: str | Path) -> str:
    """The text of a regular file of at most :data:`MAX_FILE_BYTES` bytes of UTF-8."""
    p = Path(path)
    try:
        info = os.stat(p)  # follows symlinks; a loop raises ELOOP here
    except OSError as e:
        raise ManifestError(f"cannot read it ({e.strerror or e}); give a YAML file or a "
                            "directory", path=_shown(p)) from None
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe, " \
            "socket or device)"
        raise ManifestError(f"{what}; labkit reads YAML only from regular files", path=_shown(p))
    if info.st_size > MAX_FILE_BYTES:
        raise ManifestError(f"{info.st_size / 2**20:.1f} MiB is more than labkit reads "
                            f"({MAX_FILE_BYTES // 2**20} MiB); split the file or check that it "
                            "is really a manifest", path=_shown(p))
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ManifestError(f"cannot read it ({e.strerror or e})", path=_shown(p)) from None
    if len(data) > MAX_FILE_BYTES:  # it grew while we read it
        raise ManifestError(f"more than {MAX_FILE_BYTES // 2**20} MiB; split the file",
                            path=_shown(p))
    return decode(data, p)


def decode(data: bytes, path: str | Path) -> str:
    """``data`` as UTF-8 text, or a ManifestError that says where the first bad byte is."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ManifestError("the file is UTF-16 text; save it as UTF-8 (kubectl and labkit "
                            "read UTF-8)", path=_shown(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ManifestError(f"not UTF-8 text (byte 0x{data[e.start]:02x} on line {line}); save "
                            "the file as UTF-8, or remove it if it is not a manifest",
                            path=_shown(path)) from None


def inside(path: Path, directory: Path) -> bool:
    """True if ``path`` (symlinks resolved) is ``directory`` or below it."""
    try:
        path.resolve().relative_to(directory.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, non-scalar keys and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"mappings and lists nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    "found a list or mapping used as a key; keys must be plain strings",
                    key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r} (YAML keeps only the last one)", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _RecursiveAlias(Exception):
    pass


def _expanded_size(node: yaml.Node) -> tuple[int, int]:
    """``(nodes, distinct nodes)`` of the tree under ``node`` once aliases are expanded.

    PyYAML hands out the anchored node itself for an alias, so a node met again is an alias.
    Sizes are memoised per node, so this takes time linear in the distinct nodes. An alias
    inside its own anchor (an endless object) raises _RecursiveAlias.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(n: yaml.Node) -> int:
        got = sizes.get(id(n))
        if got is not None:
            return got
        if id(n) in open_:
            raise _RecursiveAlias(n.start_mark.line + 1)
        open_.add(id(n))
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(c) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        open_.discard(id(n))
        sizes[id(n)] = total
        return total

    return size(node), len(sizes)


def parse_documents(text: str, path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(first line, document)`` for each YAML document in ``text``.

    Every problem is one ManifestError that names ``path`` and, where known, the line.
    """
    loader = None
    try:
        loader = StrictLoader(text)   # the reader refuses control characters right here
        while loader.check_node():
            node = loader.get_node()
            try:
                decoded, distinct = _expanded_size(node)
            except _RecursiveAlias as e:
                raise ManifestError(f"an alias on line {e.args[0]} refers to the mapping or list "
                                    "that contains it (an endless object); kubectl refuses it too",
                                    path=_shown(path)) from None
            if excessive_aliasing(decoded, decoded - distinct):
                raise ManifestError(
                    f"document at line {node.start_mark.line + 1} contains excessive aliasing "
                    f"({distinct:,} nodes expand to {decoded:,} through '*' aliases); kubectl "
                    "refuses such YAML too. Write the values out instead of aliasing them",
                    path=_shown(path))
            yield node.start_mark.line + 1, loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f", line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = " ".join(str(p) for p in (e.context, e.problem) if p)
        raise ManifestError(f"invalid YAML{line}: {problem}. Check the indentation (spaces, not tabs) "
                            "and the ':' after each key around that line",
                            path=_shown(path) + (f":{mark.line + 1}" if mark else "")) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        raise ManifestError(f"invalid YAML: character U+{int(e.character or 0):04X} on line {line} is not "
                            "allowed (YAML text may hold no control characters but tab and line "
                            "breaks); remove it", path=f"{_shown(path)}:{line}") from None
    except yaml.YAMLError as e:
        raise ManifestError(f"invalid YAML: {' '.join(str(e).split())}", path=_shown(path)) from None
    except RecursionError:  # a construct the depth limit did not catch
        raise ManifestError(f"nested too deeply to read (more than {MAX_DEPTH} levels)",
                            path=_shown(path)) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_all(text: str, path: str | Path) -> list[Any]:
    """The non-empty documents of ``text`` (for callers that need no line numbers)."""
    return [doc for _, doc in parse_documents(text, path) if doc is not None]
