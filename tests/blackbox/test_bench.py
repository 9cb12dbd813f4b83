"""`scripts/bench` stays runnable, without running a benchmark.

Its options are checked directly; then a smoke run (one run of 1 s per scenario, 2 connections) drives the
server binary under test with the debug load generator that `cargo test` builds (`target/debug/examples/loadgen`,
or `LOADGEN_BIN`), and checks that every scenario row of the printed table carries figures. Nothing here is
timed: the figures only have to be there. The peer (node oidc-provider) joins the smoke run when node and npm are
installed; without them the run is made with `--no-peer`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, server_binary

SCRIPT = REPO_ROOT / "scripts" / "bench"
SCENARIOS = [
    "client-credentials",
    "client-credentials-jwt",
    "introspect",
    "permission",
    "uma-grant",
    "uma-grant-only",
]
SMOKE_TIMEOUT = 110  # under the suite's 120 s per test; the run itself takes about 20 s


def bench(*args: str, env: dict[str, str] | None = None, timeout: int = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else dict(os.environ),
        cwd=REPO_ROOT,
    )


def test_help_lists_every_scenario_and_option():
    done = bench("--help")
    assert done.returncode == 0, done.stderr
    for name in SCENARIOS + ["--runs", "--seconds", "--concurrency", "--scenarios", "--no-peer", "--dry-run"]:
        assert name in done.stdout, f"--help does not mention {name}"


def test_dry_run_prints_the_plan_and_starts_nothing():
    done = bench("--dry-run", "--runs", "2", "--seconds", "3", "--concurrency", "16,64")
    assert done.returncode == 0, done.stderr
    assert "8 scenario rows x 2 concurrency level(s) (16 64) x 2 run(s) of 3 s: 32 measurements" in done.stdout
    assert "nothing built or started" in done.stdout
    assert "Starting" not in done.stdout


def test_dry_run_without_the_peer_keeps_only_uma_cedar_rows():
    done = bench("--dry-run", "--no-peer", "--scenarios", "client-credentials,introspect")
    assert done.returncode == 0, done.stderr
    assert "oidc-provider" not in done.stdout
    assert done.stdout.count("uma-cedar") == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runs", "0"], "--runs must be 1..100"),
        (["--seconds", "601"], "--seconds must be 1..600"),
        (["--concurrency", "16,0"], "each --concurrency value must be 1..256"),
        (["--scenarios", "uma-grant,nope"], "unknown scenario 'nope'"),
        (["--no-peer", "--scenarios", "client-credentials-jwt"], "nothing to measure"),
        (["--seconds"], "--seconds needs a value"),
        (["--fast"], "unknown argument '--fast'"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(args, message):
    done = bench("--dry-run", *args)
    assert done.returncode == 2
    assert message in done.stderr


def loadgen_binary() -> Path:
    configured = os.environ.get("LOADGEN_BIN")
    return Path(configured) if configured else REPO_ROOT / "target" / "debug" / "examples" / "loadgen"


@pytest.mark.timeout(SMOKE_TIMEOUT + 10)
def test_smoke_run_prints_figures_for_every_scenario():
    loadgen = loadgen_binary()
    if not loadgen.is_file():
        pytest.skip(f"no load generator at {loadgen}: `cargo test` (or `cargo build --example loadgen`) builds it")
    with_peer = shutil.which("node") is not None and shutil.which("npm") is not None
    env = dict(os.environ, UMA_CEDAR_BIN=str(server_binary()), LOADGEN_BIN=str(loadgen))
    args = ["--debug", "--no-build", "--runs", "1", "--seconds", "1", "--concurrency", "2"]
    if not with_peer:
        args.append("--no-peer")
    done = bench(*args, env=env, timeout=SMOKE_TIMEOUT)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"

    assert "| scenario | server | CPU/request | rps | p50 | p99 |" in done.stdout
    rows = re.findall(
        r"^\| ([^|]+) \| (uma-cedar|oidc-provider) \| (\d+) µs \| (\d+) \| ([\d.]+) ms \| ([\d.]+) ms \|$",
        done.stdout,
        flags=re.MULTILINE,
    )
    labels = {(label, server) for label, server, *_ in rows}
    expected = {
        ("client_credentials (PAT)", "uma-cedar"),
        ("introspection", "uma-cedar"),
        ("permission ticket", "uma-cedar"),
        ("ticket + UMA grant (RPT)", "uma-cedar"),
        ("UMA grant alone (RPT)", "uma-cedar"),
    }
    if with_peer:
        expected |= {
            ("client_credentials (opaque)", "oidc-provider"),
            ("client_credentials (JWT)", "oidc-provider"),
            ("introspection", "oidc-provider"),
        }
    assert labels == expected, done.stdout
    for label, server, cpu, rps, p50, p99 in rows:
        assert int(rps) > 0, f"{label} on {server} completed nothing"
        assert float(p50) <= float(p99), f"{label} on {server}: p50 above p99"
    assert "some requests failed" not in done.stderr, done.stderr
