"""The README's walk-through, run exactly as a newcomer pastes it.

The `sh` blocks between the README's `<!-- walkthrough ... -->` and `<!-- end of walkthrough -->` markers are run
in order in one `bash -euo pipefail`, in a temporary directory, with the built `uma-cedar` first on `PATH` and
only the listen address chosen by the test (a free loopback port, through the `UMA_CEDAR_LISTEN` the README
reads). Between blocks the script prints a marker line, so each block's output can be checked on its own. The
Quick start and the command-line synopsis are checked against the repository rather than run (no release build
here).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, child_env, free_port

README = REPO_ROOT / "README.md"
BEGIN = "<!-- walkthrough"
END = "<!-- end of walkthrough -->"
RUN_TIMEOUT = 90  # about thirty requests and four admin commands, two of them hashing a password
MARKER = "::walkthrough block {}::"


def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The body of one `## ` section of the README."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def walkthrough_blocks() -> list[str]:
    text = readme()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "the README marks its walk-through once"
    blocks = sh_blocks(text[text.index(BEGIN) : text.index(END)])
    assert len(blocks) >= 5, "the walk-through lost its blocks"
    return blocks


def script(blocks: list[str]) -> str:
    parts = [f"printf '\\n%s\\n' {shlex.quote(MARKER.format(i))}\n{block}" for i, block in enumerate(blocks)]
    # After the README's own commands: the resource id it registered, for the checks below.
    parts.append(f"printf '\\n%s\\n%s\\n' {shlex.quote(MARKER.format('end'))} \"$RESOURCE\"\n")
    return "\n".join(parts)


def outputs(stdout: str, count: int) -> tuple[list[str], str]:
    """Each block's standard output, and what the script printed after the last block."""
    pieces = re.split(r"^::walkthrough block (\S+)::$", stdout, flags=re.MULTILINE)
    found = dict(zip(pieces[1::2], pieces[2::2]))
    assert list(found) == [*map(str, range(count)), "end"], f"not every block ran:\n{stdout}"
    return [found[str(i)] for i in range(count)], found["end"].strip()


def json_values(text: str) -> list:
    """Every JSON value in a block's output (curl prints the bodies back to back, without newlines)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while starts := [i for i in (text.find("{", at), text.find("[", at)) if i != -1]:
        at = min(starts)
        try:
            value, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at += 1
            continue
        values.append(value)
    return values


def block_with(blocks: list[str], needle: str) -> int:
    found = [i for i, block in enumerate(blocks) if needle in block]
    assert len(found) == 1, f"exactly one walk-through block should contain `{needle}`"
    return found[0]


@pytest.fixture
def newcomer_env(uma_binary, tmp_path):
    """A newcomer's shell: `uma-cedar` on PATH, no UMA_CEDAR_* or proxy settings inherited, a free port."""
    missing = [tool for tool in ("bash", "curl", "python3", "sed", "mktemp") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the README's walk-through needs {', '.join(missing)} on PATH", pytrace=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uma-cedar").symlink_to(uma_binary)
    env = {k: v for k, v in child_env().items() if not k.lower().endswith("_proxy")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["TMPDIR"] = str(tmp_path)  # where the README's `mktemp -d` scratch directory goes
    env["UMA_CEDAR_LISTEN"] = f"127.0.0.1:{free_port()}"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def run_walkthrough(blocks: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "walkthrough.sh").write_text(script(blocks), encoding="utf-8")
    command = ["bash", "-euo", "pipefail", str(tmp_path / "walkthrough.sh")]
    # Its own session, so the server it starts in the background is stopped even when a command fails.
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"the walk-through took over {RUN_TIMEOUT} s\n{stdout}\n{stderr}{server_logs(tmp_path)}")
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def server_logs(tmp_path: Path) -> str:
    logs = sorted(tmp_path.glob("*/server.log"))
    return "".join(f"\n--- {log} ---\n{log.read_text(errors='replace')[-4000:]}" for log in logs)


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_the_walkthrough_runs_as_written_to_an_introspected_rpt(newcomer_env, tmp_path):
    blocks = walkthrough_blocks()
    done = run_walkthrough(blocks, newcomer_env, tmp_path)
    report = f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    report += server_logs(tmp_path)
    assert done.returncode == 0, report
    output, resource_id = outputs(done.stdout, len(blocks))
    assert re.fullmatch(r"[A-Za-z0-9_-]+", resource_id), report

    # The client's first try, with the ticket alone: need_info naming the email claim the policy reads.
    need_info = json_values(output[block_with(blocks, "tee need_info.json")])
    assert len(need_info) == 1 and need_info[0].get("error") == "need_info", report
    assert "email" in [claim.get("name") for claim in need_info[0].get("required_claims", [])], report

    # The RPT's introspection: active, with `view` on the album the walk-through registered.
    rpt = json_values(output[block_with(blocks, '-d "token=$RPT"')])
    assert len(rpt) == 1 and rpt[0].get("active") is True, report
    permissions = rpt[0].get("permissions", [])
    assert any(p.get("resource_id") == resource_id and "view" in p.get("resource_scopes", []) for p in permissions)

    # The requesting party's journey: need_info naming the claims interaction endpoint, Bob signs in and continues
    # in "his browser", the client comes back with a new ticket and its state, and that ticket yields an RPT.
    journey = output[block_with(blocks, "tee redirect_user.json")]
    first = json_values(journey)[0]
    assert first.get("error") == "need_info", report
    assert first.get("redirect_user") == f"http://{newcomer_env['UMA_CEDAR_LISTEN']}/uma/claims", report
    assert "asks to show photos-rs's resource server that you are" in journey, report
    assert re.search(r"^http://127\.0\.0\.1:9000/claims-back\?ticket=[A-Za-z0-9_-]+&state=abc$", journey,
                     flags=re.MULTILINE), report
    last = journey.strip().splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", last), f"not an RPT: {last}\n{report}"

    # The PAT: active, revoked, then inactive; and the server was stopped by the last block.
    pat = json_values(output[block_with(blocks, "$AS/revoke")])
    assert [value.get("active") for value in pat] == [True, False], report
    assert blocks[-1].rstrip().endswith("kill $SERVER")


def test_the_walkthrough_uses_its_own_port_and_the_binary_on_path():
    text = "\n".join(walkthrough_blocks())
    assert "8080" not in text, "the Quick start's server may be on 8080"
    assert "export UMA_CEDAR_DATA_DIR=" in text and "--data-dir" not in text
    assert "cargo install --locked --path ." in section(readme(), "Walk-through with curl")
    assert "target/" not in text, "the walk-through calls `uma-cedar` from PATH"


def test_the_quick_start_names_what_exists():
    quick_start = section(readme(), "Quick start")
    commands = [line.split("#")[0].split() for block in sh_blocks(quick_start) for line in block.splitlines()]
    commands = [words for words in commands if words]
    assert ["cargo", "run", "--release", "--", "serve"] in commands
    assert ["scripts/test"] in commands
    assert os.access(REPO_ROOT / "scripts" / "test", os.X_OK)
    assert re.search(r'^name = "uma-cedar"$', (REPO_ROOT / "Cargo.toml").read_text(), flags=re.MULTILINE)


def test_the_prerequisites_are_what_ci_installs():
    quick_start = section(readme(), "Quick start")
    listed = re.search(r"^Prerequisites(.*?)\n\n", quick_start, flags=re.MULTILINE | re.DOTALL)
    assert listed, "the Quick start lists its prerequisites"
    listed = set(re.findall(r"`([a-z0-9.+-]+)`", listed.group(1)))
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    loop = re.search(r"^for package in (.*); do$", ci, flags=re.MULTILINE)
    assert loop, ".ci/run probes a list of packages"
    probed = set(loop.group(1).split()) | set(re.findall(r"missing\+=\(([a-z0-9.+-]+)\)", ci))
    assert {"build-essential", "libssl-dev", "pkg-config", "python3-venv"} <= listed
    assert listed == probed, f"README lists {sorted(listed)}, .ci/run installs {sorted(probed)}"


def test_the_synopsis_shows_the_data_dir_as_optional():
    synopsis = sh_or_text_blocks(section(readme(), "The command line"))
    lines = [line for line in synopsis.splitlines() if "--data-dir" in line]
    assert len(lines) >= 6
    for line in lines:
        assert "[--data-dir DIR]" in line and not re.search(r"(?<!\[)--data-dir DIR", line), line


def sh_or_text_blocks(text: str) -> str:
    return "\n".join(re.findall(r"^```[a-z]*\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL))
