"""Hostile inputs: every reader (replay, report, compare, verify) run in a subprocess under synclab's
memory ceiling and a time limit, on configurations, run directories and archives built to harm it.

Each ends as the README's "Security: what replay trusts" promises: one clear line (or report's
skipped line), the documented exit code, no traceback, nothing written outside the directory it
may write to, no synclab-archive-* directory left behind, and no marker touched by code the
input names. The inputs are built here from one real run; most refusals come before any run starts.
"""

import gzip
import hashlib
import io
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import pytest

from conftest import CliRun, cli_env, processes_mentioning, small_locked_run
from synclab.records.archive import MANIFEST, pack
from synclab.records.bounded import (MAX_DEPTH, MAX_JSON_ITEMS, MAX_MEMBER_NAME, MAX_REPEATS, MAX_RESULT_BYTES,
                                     MAX_TAR_HEADER_BYTES, MAX_YAML_BYTES, MAX_YAML_NODES, MEMORY_CEILING)

TIME_LIMIT_S = 60  # the slowest case takes a few seconds; a reader past this hangs
CONFIG = Path(".hydra") / "config.yaml"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real locked run, the material every hostile input is made from (read only). Five repeats:
    against a replay of two, enough for a verdict of reproduced (verdict.py)."""
    return small_locked_run(tmp_path_factory, "hostile", repeats=5)


class Sandbox:
    """Where one reader runs: its working directory, its TMPDIR, the inputs it reads, and the marker
    that code named in an input would touch. Only work/out may be written to."""

    def __init__(self, root: Path) -> None:
        self.work, self.tmp, self.inputs = root / "work", root / "tmp", root / "inputs"
        for directory in (self.work, self.tmp, self.inputs):
            directory.mkdir()
        self.marker = root / "marker"
        self.out = self.work / "out"

    def run_dir(self, source: Path, name: str = "run") -> Path:
        target = self.inputs / name
        shutil.copytree(source, target)
        return target

    def read(self, *argv: str) -> CliRun:
        """python -m synclab ARGV under the memory ceiling; checks what every hostile read must leave."""
        before = _tree(self.inputs)
        done = subprocess.run([sys.executable, "-m", "synclab", *argv], cwd=self.work,
                              env={**cli_env(), "TMPDIR": str(self.tmp)}, preexec_fn=_ceiling,
                              capture_output=True, text=True, timeout=TIME_LIMIT_S)
        read = CliRun(tuple(argv), done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, done.stderr
        assert "Error:" not in done.stderr, done.stderr  # no exception's own name escapes either
        assert list(self.tmp.iterdir()) == [], "left in TMPDIR"
        assert _tree(self.inputs) == before, "the inputs were changed"
        assert [p for p in self.work.iterdir() if p != self.out] == [], "written outside --out"
        assert not self.marker.exists(), "code named in the input ran"
        return read

    def refused(self, *argv: str, reason: str, code: int = 2) -> CliRun:
        """One line holding reason, the exit code, and nothing written at all."""
        read = self.read(*argv)
        assert read.returncode == code, read.stderr
        assert len(read.stderr_lines) == 1 and reason in read.stderr_lines[0], read.stderr_lines
        assert not self.out.exists()
        return read


def _ceiling() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CEILING, MEMORY_CEILING))


def _tree(root: Path) -> Dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


# ---------------------------------------------------------------- archived configurations


def _bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]  # 10**10 values
    return "\n".join(lines) + "\n"


CONFIGS: Dict[str, "tuple[Callable[[str, Path], str], str]"] = {
    "alias bomb": (lambda text, _: _bomb(), f"expands to more than {MAX_YAML_NODES:,} values"),
    "recursive alias": (lambda text, _: "a: &a [*a]\n", "holds a recursive alias"),
    "recursive mapping": (lambda text, _: "a: &a {b: *a}\n", "holds a recursive alias"),
    "deep nesting": (lambda text, _: "[" * 50_000 + "]" * 50_000, f"nested deeper than {MAX_DEPTH} levels"),
    "python tag": (lambda text, marker: f"workers: !!python/object/apply:os.system ['touch {marker}']\n",
                   "not plain YAML"),
    "too large": (lambda text, _: text + "#" * MAX_YAML_BYTES, f"larger than {MAX_YAML_BYTES:,} bytes"),
    "huge integer": (lambda text, _: text.replace("workers: 2", "workers: " + "9" * 5000), "not plain YAML"),
    "not a mapping": (lambda text, _: "- workers=2\n", "not a mapping of settings"),
    "wrong type": (lambda text, _: text.replace("workers: 2", "workers: many"), "workers:"),
    "too many repeats": (lambda text, _: text.replace("repeats: 5", "repeats: 10000000"),
                         f"repeats: must be <= {MAX_REPEATS:,}"),
    "a quote": (lambda text, _: text.replace("direction: both", 'direction: "it\'s"'), "holds a quote"),
    "no such primitive": (lambda text, _: text.replace("name: thread", "name: os.system"), "primitive:"),
}


@pytest.mark.parametrize("case", CONFIGS)
def test_a_hostile_configuration_is_refused_before_anything_runs(real_run: Path, sandbox: Sandbox,
                                                                 case: str) -> None:
    run = sandbox.run_dir(real_run)
    change, reason = CONFIGS[case]
    (run / CONFIG).write_text(change((run / CONFIG).read_text(), sandbox.marker))
    sandbox.refused("replay", str(run), "--out", str(sandbox.out), reason=reason)


def _script(sandbox: Sandbox) -> Path:
    script = sandbox.inputs / "python3"  # named like an interpreter, and executable
    script.write_text(f"#!/bin/sh\ntouch {sandbox.marker}\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("value", ["script", "relative", "a bare name"])
def test_a_python_the_machine_does_not_know_is_refused_without_running_it(real_run: Path, sandbox: Sandbox,
                                                                          value: str) -> None:
    run = sandbox.run_dir(real_run)
    script = _script(sandbox)
    named = {"script": str(script), "relative": os.path.relpath(script, sandbox.work), "a bare name": "python3"}[value]
    (run / CONFIG).write_text((run / CONFIG).read_text().replace("python: null", f"python: {named}"))
    sandbox.refused("replay", str(run), "--out", str(sandbox.out),
                    reason=f"python = {named!r} is not an interpreter synclab finds on this machine")


def test_a_python_discovery_or_synclab_pythons_finds_is_accepted(sandbox: Sandbox,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, as replay checks it: compared with this machine's list, never run."""
    from synclab.commands.replay import ReplayError, check_python

    check_python(sys.executable, "config.yaml")
    check_python("3.12", "config.yaml")  # a version: discovery resolves it when the job runs
    script = _script(sandbox)
    with pytest.raises(ReplayError, match="not an interpreter synclab finds"):
        check_python(str(script), "config.yaml")
    monkeypatch.setenv("SYNCLAB_PYTHONS", str(script))  # the user's own list is trusted
    check_python(str(script), "config.yaml")
    assert not sandbox.marker.exists()


def test_everything_but_synclab_settings_is_named_and_never_applied(real_run: Path, sandbox: Sandbox) -> None:
    """Hydra callbacks, the workers' environment, Hydra's output paths, a _target_, an unknown key and
    an interpolation, in an archive: the replay runs with none of them and names each once."""
    run = sandbox.run_dir(real_run, "hostile")
    elsewhere = sandbox.work / "elsewhere"
    text = (run / CONFIG).read_text().replace("name: thread", "name: thread\n  _target_: os.system")
    text = text.replace("initial: 0", "initial: ${oc.env:HOME}")
    (run / CONFIG).write_text(text + f"""extra: 1
hydra:
  callbacks:
    marker:
      _target_: synclab.replay.os.system
      _args_: ["touch {sandbox.marker}"]
  job:
    env_set:
      SYNCLAB_HOSTILE: "1"
  run:
    dir: {elsewhere}
  output_subdir: {elsewhere}
""")
    archive = sandbox.inputs / "hostile.tar.gz"
    pack(run, archive)
    read = sandbox.read("replay", str(archive), "--out", str(sandbox.out), "--repeats", "2")
    assert read.returncode == 0, read.stderr
    where = f"{archive}/.hydra/config.yaml"
    assert [line for line in read.stderr_lines if "not applied" in line] == [
        f"synclab replay: not applied: primitive._target_ in {where}: a reference to code; "
        "synclab never imports what a recorded run names",
        f"synclab replay: not applied: initial = '${{oc.env:HOME}}' in {where}: an interpolation, which can call "
        "resolvers; this checkout's default is used instead (--allow-external-code applies it)",
        f"synclab replay: not applied: extra in {where}: not a synclab setting",
        f"synclab replay: not applied: hydra in {where}: Hydra's settings come from this checkout's conf/, "
        "never from a recorded run",
    ]
    assert "verdict: reproduced" in read.stdout
    assert not elsewhere.exists()
    (replay,) = [p for p in sandbox.out.glob("*/*") if p.is_dir()]
    assert "SYNCLAB_HOSTILE" not in (replay / "env.json").read_text()


@pytest.mark.parametrize("argv, reason", [
    (["--repeats", "10000000"], f"--repeats: must be between 1 and {MAX_REPEATS:,}"),
    (["--repeats", "0"], "--repeats: must be between 1"),
])
def test_replay_bounds_its_repeats(real_run: Path, sandbox: Sandbox, argv: List[str], reason: str) -> None:
    sandbox.refused("replay", str(real_run), "--out", str(sandbox.out), *argv, reason=reason)


# ---------------------------------------------------------------- results and records


def _result(real_run: Path) -> dict:
    return json.loads((real_run / "result.json").read_text())


def _many_repeats(real_run: Path) -> bytes:
    data = _result(real_run)
    data["runs"] = [dict(data["runs"][0], repeat=i) for i in range(MAX_REPEATS + 1)]
    return json.dumps(data).encode()


RESULTS: Dict[str, "tuple[Callable[[Path], bytes], str]"] = {
    "deep nesting": (lambda run: b"[" * 100_000 + b"]" * 100_000, f"result.json is nested deeper than {MAX_DEPTH}"),
    "a huge integer": (lambda run: (run / "result.json").read_bytes().replace(b'"after": 0', b'"after": 1' + b"0" * 400),
                       "runs[0].after is 1000"),
    "a number past a float": (lambda run: (run / "result.json").read_bytes().replace(b'"work_s": ', b'"work_s": 1e400, "x": '),
                              "runs[0].work_s is inf"),
    "too many repeats": (_many_repeats, f"holds {MAX_REPEATS + 1:,} repeats; synclab reads at most {MAX_REPEATS:,}"),
    "too many values": (lambda run: b"[" + b"0," * MAX_JSON_ITEMS + b"0]", f"holds more than {MAX_JSON_ITEMS:,} values"),
    "too large": (lambda run: b" " * MAX_RESULT_BYTES + b"{}", f"larger than {MAX_RESULT_BYTES:,} bytes"),
}


@pytest.mark.parametrize("case", RESULTS)
def test_a_hostile_result_is_skipped_with_the_reason_by_report_and_compare(real_run: Path, sandbox: Sandbox,
                                                                           case: str) -> None:
    build, reason = RESULTS[case]
    run = sandbox.run_dir(real_run)
    (run / "result.json").write_bytes(build(real_run))
    read = sandbox.read("report", str(run), "--check")
    assert read.returncode == 1 and read.stderr_lines == ["synclab report: 1 run(s) could not be read (see skipped); "
                                             "cannot vouch for them"]
    assert reason in read.stdout
    sandbox.refused("compare", str(real_run), str(run), reason="B: no usable synclab run (skipped .: ")
    assert reason in sandbox.read("compare", str(run), str(real_run)).stderr


@pytest.mark.parametrize("env", [b"[" * 100_000 + b"]" * 100_000, b"[" + b"0," * MAX_JSON_ITEMS + b"0]"])
def test_a_hostile_env_json_leaves_the_environment_unknown(real_run: Path, sandbox: Sandbox, env: bytes) -> None:
    run = sandbox.run_dir(real_run)
    (run / "env.json").write_bytes(env)
    read = sandbox.read("compare", str(real_run), str(run))
    assert read.returncode == 0 and read.stderr_lines == []
    assert "env.json missing or unreadable for B: environment unknown" in read.stdout


# ---------------------------------------------------------------- archives


def _members(archive: Path) -> List["tuple[tarfile.TarInfo, bytes]"]:
    with tarfile.open(archive) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers() if m.isreg()]  # type: ignore[union-attr]


def _repack(archive: Path, target: Path, changes: Dict[str, bytes]) -> Path:
    """The archive with some members' bytes changed, and its manifest made to agree (a valid archive)."""
    members = _members(archive)
    root = members[0][0].name.split("/")[0]
    manifest = json.loads(dict((m.name, data) for m, data in members)[f"{root}/{MANIFEST}"])
    for rel, data in changes.items():
        if rel != MANIFEST:
            manifest["files"][rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    changes = {MANIFEST: json.dumps(manifest).encode(), **changes}
    with tarfile.open(target, "w:gz") as tar:
        for member, data in members:
            data = changes.get(member.name.split("/", 1)[1], data)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return target


def _header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _raw_archive(target: Path, *parts: bytes, padding: int = 0) -> Path:
    """A .tar.gz of exactly these bytes, then padding zero bytes (streamed: never all in memory)."""
    with gzip.open(target, "wb", compresslevel=1) as out:
        for part in parts:
            out.write(part)
        chunk = b"\0" * (1 << 20)
        for _ in range(padding // len(chunk)):
            out.write(chunk)
        out.write(b"\0" * 1024)
    return target


def _pax(name: str, records: Dict[str, str]) -> bytes:
    info = tarfile.TarInfo(name)
    info.pax_headers = records
    info.size = 0
    return info.tobuf(format=tarfile.PAX_FORMAT)


ARCHIVES: Dict[str, "tuple[Callable[[Path], Sequence[bytes]], int, str]"] = {
    # name: (the archive's bytes, zero bytes after them, the reason)
    "a GNU long name of a GiB": (lambda _: [_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, 1 << 30)], 64 << 20,
                                 f"a GNU long name of 1,073,741,824 bytes (at most {MAX_TAR_HEADER_BYTES:,})"),
    "a pax header of a GiB": (lambda _: [_header("pax", tarfile.XHDTYPE, 1 << 30)], 64 << 20,
                              f"a pax header of 1,073,741,824 bytes (at most {MAX_TAR_HEADER_BYTES:,})"),
    "chained pax headers": (lambda _: [_header("pax", tarfile.XHDTYPE, 0)] * 5000, 0,
                            "more than 8 header extensions before one member"),
    "a sparse member": (lambda _: [_header("run/data", tarfile.GNUTYPE_SPARSE, 0)], 0, "a sparse file"),
    "a pax sparse member": (lambda _: [_pax("run/data", {"GNU.sparse.size": "10", "GNU.sparse.map": "0,10"})], 0,
                            "a sparse file"),
    "a long member name": (lambda _: [_pax("run/" + "x" * (2 * MAX_MEMBER_NAME), {})], 0,
                           f"a name longer than {MAX_MEMBER_NAME:,} characters"),
}


@pytest.mark.parametrize("case", ARCHIVES)
def test_hostile_tar_metadata_is_refused_before_it_is_read(sandbox: Sandbox, tmp_path: Path, case: str) -> None:
    build, padding, reason = ARCHIVES[case]
    archive = _raw_archive(sandbox.inputs / "hostile.tar.gz", *build(tmp_path), padding=padding)
    sandbox.refused("verify", str(archive), reason=reason)


@pytest.mark.parametrize("reader", ["report", "compare", "replay"])
def test_every_reader_of_archives_refuses_hostile_metadata(real_run: Path, sandbox: Sandbox, reader: str) -> None:
    archive = _raw_archive(sandbox.inputs / "hostile.tar.gz",
                           _header("././@LongLink", tarfile.GNUTYPE_LONGNAME, 1 << 30), padding=1 << 20)
    argv = {"report": [str(archive)], "compare": [str(real_run), str(archive)],
            "replay": [str(archive), "--out", str(sandbox.out)]}[reader]
    sandbox.refused(reader, *argv, reason="a GNU long name of 1,073,741,824 bytes")


MANIFESTS = {
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, f"{MANIFEST} is nested deeper than {MAX_DEPTH} levels"),
    "too many values": (b"[" + b"0," * MAX_JSON_ITEMS + b"0]", f"{MANIFEST} holds more than {MAX_JSON_ITEMS:,} values"),
}


@pytest.mark.parametrize("case", MANIFESTS)
def test_a_hostile_manifest_is_refused(real_run: Path, sandbox: Sandbox, case: str) -> None:
    good = sandbox.inputs / "good.tar.gz"
    pack(real_run, good)
    data, reason = MANIFESTS[case]
    archive = _repack(good, sandbox.inputs / "hostile.tar.gz", {MANIFEST: data})
    good.unlink()
    sandbox.refused("verify", str(archive), reason=reason)


@pytest.mark.parametrize("case", ["too many repeats", "too many values", "deep nesting"])
def test_a_valid_archive_of_a_hostile_result_is_skipped_with_the_reason(real_run: Path, sandbox: Sandbox,
                                                                        case: str) -> None:
    build, reason = RESULTS[case]
    good = sandbox.inputs / "good.tar.gz"
    pack(real_run, good)
    archive = _repack(good, sandbox.inputs / "hostile.tar.gz", {"result.json": build(real_run)})
    good.unlink()
    read = sandbox.read("verify", str(archive))  # every sha256 matches: only the bounds refuse the result
    assert read.returncode == 1 and read.stderr_lines == [] and "unreadable    run: result.json " in read.stdout and reason in read.stdout
    read = sandbox.read("report", str(archive), "--check")
    assert read.returncode == 1 and reason in read.stdout


def test_a_valid_archive_of_an_alias_bomb_is_refused_by_replay(real_run: Path, sandbox: Sandbox) -> None:
    good = sandbox.inputs / "good.tar.gz"
    pack(real_run, good)
    archive = _repack(good, sandbox.inputs / "hostile.tar.gz", {".hydra/config.yaml": _bomb().encode()})
    good.unlink()
    sandbox.refused("replay", str(archive), "--out", str(sandbox.out),
                    reason=f"expands to more than {MAX_YAML_NODES:,} values")


# ---------------------------------------------------------------- signals


def _wait_for(proc: "subprocess.Popen[bytes]", text: bytes, bound_s: float) -> bytes:
    """What the process wrote to stderr up to the first line holding text (bounded wait)."""
    seen = b""
    deadline = time.monotonic() + bound_s
    while text not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)  # type: ignore[union-attr]
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.parametrize("signum, source", [(signal.SIGTERM, "archive"), (signal.SIGINT, "archive"),
                                            (signal.SIGTERM, "directory")])
def test_a_signal_during_a_replay_stops_its_run_and_leaves_no_temporary_directory(
        real_run: Path, sandbox: Sandbox, signum: int, source: str) -> None:
    run = sandbox.run_dir(real_run)
    (run / CONFIG).write_text((run / CONFIG).read_text().replace("sleep: 0.0", "sleep: 0.002"))  # a slow run
    path = run
    if source == "archive":
        path = sandbox.inputs / "slow.tar.gz"
        pack(run, path)
    proc = subprocess.Popen([sys.executable, "-m", "synclab", "replay", str(path), "--out", str(sandbox.out)],
                            cwd=sandbox.work, env={**cli_env(), "TMPDIR": str(sandbox.tmp)}, preexec_fn=_ceiling,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = _wait_for(proc, b"replaying", TIME_LIMIT_S)
        assert b"replaying" in seen, seen
        unpacked = [p.name for p in sandbox.tmp.iterdir()]
        assert len(unpacked) == (source == "archive") and all(n.startswith("synclab-archive-") for n in unpacked)
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=TIME_LIMIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIME_LIMIT_S)
    stderr = (seen + rest).decode()
    assert proc.returncode == 128 + signum, stderr
    assert stderr.splitlines()[-1] == f"synclab replay: interrupted ({signal.Signals(signum).name})"
    assert "Traceback" not in stderr
    assert list(sandbox.tmp.iterdir()) == []
    assert processes_mentioning(str(sandbox.out)) == []  # the replayed run went down with it


def test_a_killed_readers_directory_is_removed_by_the_next_one_and_a_live_ones_is_kept(
        real_run: Path, sandbox: Sandbox) -> None:
    """SIGKILL leaves no chance to clean up: the next reader removes what a dead process left."""
    archive = sandbox.inputs / "run.tar.gz"
    pack(sandbox.run_dir(real_run), archive)
    env = {**cli_env(), "TMPDIR": str(sandbox.tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "synclab", "replay", str(archive), "--out", str(sandbox.out)],
                            cwd=sandbox.work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = _wait_for(proc, b"replaying", TIME_LIMIT_S)
        assert b"replaying" in seen, seen
        proc.kill()  # as the kernel's out-of-memory killer or a scheduler's timeout would
        proc.communicate(timeout=TIME_LIMIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIME_LIMIT_S)
    for pid in processes_mentioning(str(sandbox.out)):  # its replayed run, orphaned with it
        os.kill(int(pid), signal.SIGKILL)
    left = [p.name for p in sandbox.tmp.iterdir()]
    assert len(left) == 1 and left[0].startswith(f"synclab-archive-{proc.pid}-")
    alive = sandbox.tmp / f"synclab-archive-{os.getpid()}-kept"  # this test's own process still runs
    alive.mkdir()
    done = subprocess.run([sys.executable, "-m", "synclab", "report", str(archive)], cwd=sandbox.work, env=env,
                          capture_output=True, text=True, timeout=TIME_LIMIT_S)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in sandbox.tmp.iterdir()] == [alive.name]
    alive.rmdir()
