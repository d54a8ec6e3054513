"""`.ci/run` fails when any of its steps fails, and says which, with `make` and `apt-get` faked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = {"test": "make test", "docs": "make docs", "dist": "make dist", "ui-test": "make ui-test"}
FAKE_MAKE = """#!/bin/bash
if [ "$*" = "-s oldest-stamp" ]; then echo "$PWD/no-such-stamp"; exit 0; fi
echo "fake make $1"
v="FAIL_${1//-/_}"
exit "${!v:-0}"
"""
FAKE_APT = """#!/bin/bash
exit "${APT_FAIL:-0}"
"""


def run_ci(tmp_path: Path, **env: str) -> tuple[int, str]:
    """Run a copy of .ci/run where only the faked commands and a few core utilities are on PATH."""
    project, bin_dir = tmp_path / "p", tmp_path / "bin"
    (project / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", project / ".ci" / "run")
    bin_dir.mkdir()
    for tool in ("timeout", "cat", "mkdir", "tail", "dirname", "sleep"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    for name, text in (("make", FAKE_MAKE), ("apt-get", FAKE_APT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    bash = shutil.which("bash")
    assert bash
    # No chromium on this PATH: the run installs it with the fake apt-get.
    result = subprocess.run(
        [bash, ".ci/run"],
        cwd=project,
        env={"PATH": str(bin_dir), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def summary(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("== make test exited") and "," in line]
    assert len(lines) == 1, output
    return lines[0]


def test_every_step_passing_passes(tmp_path: Path) -> None:
    status, output = run_ci(tmp_path)
    assert status == 0, output
    for target in [*STEPS, "ci-matrix"]:
        assert f"fake make {target}" in output
    assert "make test exited 0, make docs 0, make dist 0, make ui-test 0, make matrix 0" in summary(output)


@pytest.mark.parametrize("target", [*STEPS, "ci-matrix"])
def test_one_failing_step_fails_ci_and_the_others_still_run(tmp_path: Path, target: str) -> None:
    status, output = run_ci(tmp_path, **{f"FAIL_{target.replace('-', '_')}": "3"})
    assert status == 1, output
    line = summary(output)
    name = STEPS.get(target, "make matrix")
    assert f"{name} {'exited ' if target == 'test' else ''}3" in line, line
    for other in [*STEPS, "ci-matrix"]:
        assert f"fake make {other}" in output


CUT_OFF = [("ci-matrix", "make matrix 124"), ("test", "make test exited 124")]


@pytest.mark.parametrize(("target", "said"), CUT_OFF)
def test_a_cut_off_suite_fails_ci_with_the_summary(tmp_path: Path, target: str, said: str) -> None:
    status, output = run_ci(tmp_path, **{f"FAIL_{target.replace('-', '_')}": "124"})
    assert status == 1, output
    assert said in summary(output)


def test_chromium_that_cannot_be_installed_fails_the_browser_step(tmp_path: Path) -> None:
    status, output = run_ci(tmp_path, APT_FAIL="100")
    assert status == 1, output
    assert "installing chromium failed" in output
    assert "fake make ui-test" not in output
    assert "make ui-test 1" in summary(output)


def test_the_tests_take_sigint_even_when_started_as_a_background_job(tmp_path: Path) -> None:
    # make matrix starts each lane like this; .ci/run's cut-off interrupts them with SIGINT.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import runpy, signal, sys\n"
        "before = signal.getsignal(signal.SIGINT) is signal.SIG_IGN\n"
        "runpy.run_path(sys.argv[1])\n"
        "print(before, signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    bash = shutil.which("bash")
    assert bash
    script = '"$1" "$2" "$3" & wait $!'
    command = [bash, "-c", script, "bash", sys.executable, str(probe), str(ROOT / "tests" / "conftest.py")]
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"], result.stdout
