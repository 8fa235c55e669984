"""The bounded, strict manifest reader: every bad file is one clear finding, nothing hangs.

Each test reproduces a defect of the reliability review (shared/reviews/reliability-probes.md,
D1-D9, D13) through the public entry points: ``labkit validate`` and ``load_variant``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

import labkit
from labkit.errors import ManifestError
from labkit.manifests import load_objects, load_variant
from labkit.validate import run_validate, validate_path
from labkit.yaml_reader import MAX_DEPTH, MAX_FILE_BYTES, excessive_aliasing

REPO = Path(__file__).resolve().parents[2]
GOOD = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: good
data:
  a: "1"
"""


CODE = Path(labkit.__file__).resolve().parents[1]   # the labkit under test, also in the child


def _cap_memory() -> None:  # a regression must fail the test, not take the machine's memory
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def _validate_cli(*paths: Path | str, timeout: float = 30) -> subprocess.CompletedProcess:
    """``labkit validate PATHS`` in a child with a deadline: a hang fails the test, not CI."""
    return subprocess.run([sys.executable, "-m", "labkit.cli", "validate", *map(str, paths)],
                          capture_output=True, text=True, timeout=timeout, cwd=CODE,
                          preexec_fn=_cap_memory)


def _run(paths, capsys) -> tuple[int, list[str]]:
    rc = run_validate([str(p) for p in paths])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return rc, out.out.splitlines()


# -- D1: encodings ---------------------------------------------------------------------------------
@pytest.mark.parametrize("data, needle", [
    (os.urandom(64) + b"\xff\xfe\x00" + os.urandom(4096), "not UTF-8"),
    ("name: café\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 on line 1)"),
    ("kind: ConfigMap\n".encode("utf-16"), "UTF-16"),
    (b"a: 1\n\x00\xff", "not UTF-8"),
])
def test_non_utf8_file_is_one_finding(tmp_path, capsys, data, needle):
    (tmp_path / "junk.yaml").write_bytes(data)
    rc, lines = _run([tmp_path / "junk.yaml"], capsys)
    assert rc == 1
    assert needle in lines[0] and "junk.yaml" in lines[0]
    with pytest.raises(ManifestError, match="UTF"):
        load_variant(tmp_path / "junk.yaml")


def test_utf8_bom_is_fine(tmp_path):
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert [o.name for o in load_objects(tmp_path / "bom.yaml")] == ["good"]


def test_binary_file_does_not_hide_the_other_findings(tmp_path, capsys):
    (tmp_path / "a-junk.yaml").write_bytes(b"\xff\xfe\xfa" * 100)
    (tmp_path / "b-bad.yaml").write_text(GOOD.replace("\ndata:", "\ndta:"))
    (tmp_path / "c-good.yaml").write_text(GOOD.replace("good", "other"))
    rc, lines = _run([tmp_path], capsys)
    assert rc == 1
    assert any("a-junk.yaml" in x and "UTF" in x for x in lines)
    assert any("b-bad.yaml" in x and "unknown field 'dta'" in x for x in lines)
    assert lines[-1].endswith("2 objects in 2 files, 2 errors, 0 warnings")


# -- D2: alias bombs -------------------------------------------------------------------------------
def _bomb(levels: int, where: str = "args") -> str:
    names = "abcdefghijkl"[:levels]
    lines = [f"x{names[0]}: &{names[0]} [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, cur in zip(names, names[1:]):
        lines.append(f"x{cur}: &{cur} [{', '.join('*' + prev for _ in range(9))}]")
    anchors = "\n".join("  " + x for x in lines)
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bomb
  annotations:
{anchors.replace('  x', '    x')}
spec:
  selector: {{matchLabels: {{app: a}}}}
  template:
    metadata: {{labels: {{app: a}}}}
    spec:
      containers:
      - name: c
        image: labkit/app:1
        {where}: *{names[-1]}
"""


@pytest.mark.parametrize("levels", [6, 9, 10])
def test_alias_bomb_is_refused_quickly_in_little_memory(tmp_path, levels):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(levels))
    assert path.stat().st_size < 1100
    start = time.monotonic()
    proc = _validate_cli(path)
    assert time.monotonic() - start < 20
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "excessive aliasing" in proc.stdout
    assert len(proc.stdout) < 2000, "one short line per problem"


def test_alias_bomb_in_free_form_field_is_refused_too(tmp_path):
    # fieldsV1 is free-form for the schema (it passed validate), but the kind backend would
    # expand it 9^9-fold when it serialises the object for apply: the reader refuses it.
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{c}: &{c} [{', '.join('*' + p for _ in range(9))}]"
              for p, c in zip("abcdefgh", "bcdefghi")]
    (tmp_path / "b.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  managedFields:\n"
        "  - fieldsV1:\n" + "".join(f"      {x}\n" for x in lines) + "data: {k: v}\n")
    with pytest.raises(ManifestError, match="excessive aliasing"):
        load_objects(tmp_path / "b.yaml")


def test_modest_aliasing_is_allowed(tmp_path):
    defaults = "base: &base {cpu: 100m, memory: 128Mi}\n"
    (tmp_path / "ok.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ok}}\nx:\n  {defaults}  copies: [*base, *base, *base]\n")
    assert load_objects(tmp_path / "ok.yaml")[0].doc["x"]["copies"][2]["cpu"] == "100m"


def test_recursive_alias_is_refused(tmp_path):
    (tmp_path / "r.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: r}\n"
                                     "data: &d {a: *d}\n")
    with pytest.raises(ManifestError, match="contains it"):
        load_objects(tmp_path / "r.yaml")


def test_go_yaml_alias_rule():
    assert not excessive_aliasing(1000, 990)     # small documents may be mostly aliases
    assert excessive_aliasing(1001, 992)
    assert not excessive_aliasing(5000, 100)     # few aliased nodes are always fine
    assert excessive_aliasing(4_000_001, 500_000)
    assert not excessive_aliasing(4_000_001, 400_000)


def test_long_schema_messages_are_shortened(tmp_path, capsys):
    big = "x" * 100_000
    (tmp_path / "big.yaml").write_text(GOOD + f"  b: [{big}]\n")
    rc, lines = _run([tmp_path / "big.yaml"], capsys)
    assert rc == 1 and all(len(x) < 800 for x in lines)


# -- D3, D6: nesting and keys ----------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "data: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "data: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
    "data:\n" + "".join("  " * i + "- \n" for i in range(1, 300)),
])
def test_deep_nesting_is_one_finding(tmp_path, capsys, text):
    (tmp_path / "deep.yaml").write_text(text)
    rc, lines = _run([tmp_path / "deep.yaml"], capsys)
    assert rc == 1 and len(lines) == 2
    assert f"more than {MAX_DEPTH} levels" in lines[0]


@pytest.mark.parametrize("text", ["labels: {1: 2, [a]: b}\n", "? {a: 1}\n: b\n"])
def test_unhashable_keys_are_one_finding(tmp_path, capsys, text):
    (tmp_path / "keys.yaml").write_text(text)
    rc, lines = _run([tmp_path / "keys.yaml"], capsys)
    assert rc == 1 and "keys must be plain strings" in lines[0]


# -- D4: many objects ------------------------------------------------------------------------------
def test_many_objects_validate_in_seconds(tmp_path):
    n = 600
    (tmp_path / "many.yaml").write_text("".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  k: v\n"
        for i in range(n)))
    validate_path(tmp_path / "many.yaml")  # warm the schema caches
    start = time.monotonic()
    assert validate_path(tmp_path / "many.yaml") == []
    assert time.monotonic() - start < 3, "about 10 ms per object before the validators were cached"


# -- D5: wrong apiVersion --------------------------------------------------------------------------
def test_wrong_api_version_blames_the_api_version(tmp_path, capsys):
    (tmp_path / "hpa.yaml").write_text("apiVersion: autoscaling/v9\nkind: HorizontalPodAutoscaler\n"
                                       "metadata: {name: h}\nspec: {}\n")
    rc, lines = _run([tmp_path / "hpa.yaml"], capsys)
    assert rc == 1
    assert ": apiVersion: " in lines[0] and "autoscaling/v2" in lines[0]
    assert "lower-cased" not in lines[0]


# -- D7, D8, D9: links and special files -----------------------------------------------------------
def test_symlink_loop_in_a_directory_is_one_finding(tmp_path, capsys):
    (tmp_path / "a.yaml").symlink_to("b.yaml")
    (tmp_path / "b.yaml").symlink_to("a.yaml")
    (tmp_path / "good.yaml").write_text(GOOD)
    rc, lines = _run([tmp_path], capsys)
    assert rc == 1
    assert sum("symbolic links" in x for x in lines) == 2
    assert lines[-1].endswith("1 object in 1 file, 2 errors, 0 warnings")


def test_self_symlinked_directories_do_not_loop(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "a").symlink_to(".")
    (tmp_path / "b").symlink_to(".")
    proc = _validate_cli(tmp_path, timeout=20)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("1 object in 1 file, 0 errors, 0 warnings")


def test_fifo_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "good.yaml").write_text(GOOD)
    proc = _validate_cli(tmp_path, timeout=20)
    assert proc.returncode == 1 and "not a regular file" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_device_is_refused():
    proc = _validate_cli("/dev/zero")
    assert proc.returncode == 1 and "not a regular file" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)   # sparse: no disk used
    with pytest.raises(ManifestError, match="MiB"):
        load_objects(path)


# -- D13: resources outside the kustomization ------------------------------------------------------
def _kustomization(directory: Path, *resources: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(
        "resources:\n" + "".join(f"- {r}\n" for r in resources))


@pytest.mark.parametrize("entry", ["../outside/cm.yaml", "/etc/passwd", "link.yaml"])
def test_kustomization_files_outside_are_refused(tmp_path, entry):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "cm.yaml").write_text(GOOD)
    (tmp_path / "variant").mkdir()
    (tmp_path / "variant" / "link.yaml").symlink_to(tmp_path / "outside" / "cm.yaml")
    _kustomization(tmp_path / "variant", entry)
    with pytest.raises(ManifestError, match="outside the kustomization"):
        load_variant(tmp_path / "variant")


def test_kustomization_base_directory_outside_is_allowed(tmp_path):
    _kustomization(tmp_path / "base", "cm.yaml")
    (tmp_path / "base" / "cm.yaml").write_text(GOOD)
    _kustomization(tmp_path / "variant", "../base")
    assert [o.name for o in load_variant(tmp_path / "variant").objects] == ["good"]


def test_apply_text_goes_through_the_same_reader():
    from labkit.backends.objects import documents
    from labkit.errors import BackendError
    with pytest.raises(BackendError, match="excessive aliasing"):
        documents(_bomb(9))
    with pytest.raises(BackendError, match="levels"):
        documents("data: " + "[" * 5000 + "]" * 5000 + "\n")


# -- found by the fuzz test (test_fuzz_reader.py) --------------------------------------------------
@pytest.mark.parametrize("data", [b"\x00", b"a: \x08\n", b"kind: \x7f"])
def test_control_characters_are_one_finding_on_one_line(tmp_path, capsys, data):
    (tmp_path / "c.yaml").write_bytes(data)
    rc, lines = _run([tmp_path / "c.yaml"], capsys)
    assert rc == 1 and len(lines) == 2 and "control characters" in lines[0]


@pytest.mark.parametrize("text", [
    "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: app}\nspec:\n  template: true\n",
    "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: so}\nspec: true\n",
    "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: so}\n"
    "spec: {scaleTargetRef: {name: app}, triggers: [{type: cpu, metadata: true}]}\n",
    "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: so}\n"
    "spec: {scaleTargetRef: {name: app}, triggers: true}\n",
])
def test_wrongly_typed_fields_are_findings_not_tracebacks(tmp_path, capsys, text):
    (tmp_path / "w.yaml").write_text(text)
    rc, lines = _run([tmp_path / "w.yaml"], capsys)
    assert rc == 1 and any(x.startswith("ERROR") for x in lines)


@pytest.mark.parametrize("content", ["", "# only a comment\n", "---\n---\n"])
def test_a_file_without_objects_warns(tmp_path, capsys, content):
    (tmp_path / "empty.yaml").write_text(content)
    rc, lines = _run([tmp_path / "empty.yaml"], capsys)
    assert rc == 0 and lines[0].startswith("WARNING") and "no objects" in lines[0]
    assert lines[-1].endswith("0 objects in 0 files, 0 errors, 1 warning")
