"""Drive the real ``nnlab`` command in a terminal (tmux) and read the screen, as a user would."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from tests.functional.tui.conftest import FIXTURES

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def wait_screen(name: str, *texts: str, timeout: float = 20.0) -> str:
    """The screen once every one of ``texts`` is on it."""
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = screen(name)
        if all(t in shown for t in texts):
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{texts!r} never all appeared; the screen was:\n{shown}")


@pytest.fixture
def session(tmp_path):
    name = f"nnlab-test-{os.getpid()}-{time.monotonic_ns()}"
    yield name
    tmux("kill-session", "-t", name)


def test_the_nnlab_command_in_a_terminal(session, tmp_path):
    command = (f"cd {shlex.quote(str(FIXTURES))} && env XDG_STATE_HOME={shlex.quote(str(tmp_path))} "
               f"TERM=xterm-256color {shlex.quote(sys.executable)} -m nnlab conv-pad.yaml")
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    shown = wait_screen(session, "step 1/6", "Y = conv2d(X, K", "padded by 1",
                        "Y[0,0] = 0×0 + 0×1 + 0×2 + 0×3 = 0", "? Help")
    assert " -1   0  0  0  0  0" in shown                 # the padding row, labelled −1
    tmux("send-keys", "-t", session, "Down")
    wait_screen(session, "element 2/4", "Y[0,1] = 0×0 + 0×1 + 1×2 + 2×3 = 8")
    tmux("send-keys", "-t", session, "Right")
    wait_screen(session, "step 2/6", "P[0,0] = max(0, 8, 6, 8) = 8")
    tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and subprocess.run(["tmux", "has-session", "-t", session],
                                                         capture_output=True, check=False).returncode == 0:
        time.sleep(0.1)
    assert subprocess.run(["tmux", "has-session", "-t", session], capture_output=True, check=False).returncode != 0


def test_q_ends_the_process_while_a_long_load_still_runs(session, tmp_path):
    """A training of a million epochs is still loading when q is pressed: the process ends
    (without the fix it waited for the load's worker thread, for minutes)."""
    root = FIXTURES.parents[3]
    slow = tmp_path / "slow.yaml"
    slow.write_text((root / "scenarios" / "train-mlp-xor-gd.yaml").read_text()
                    .replace("epochs: 2000,", "epochs: 1000000,"))
    command = (f"env XDG_STATE_HOME={shlex.quote(str(tmp_path))} TERM=xterm-256color "
               f"{shlex.quote(sys.executable)} -m nnlab {shlex.quote(str(slow))}")
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    wait_screen(session, "loading", "q Quit")
    tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 10  # a hang is forever; measured 0.3–1.3 s on 2 busy cores
    while time.monotonic() < deadline and subprocess.run(["tmux", "has-session", "-t", session],
                                                         capture_output=True, check=False).returncode == 0:
        time.sleep(0.1)
    assert subprocess.run(["tmux", "has-session", "-t", session], capture_output=True, check=False).returncode != 0


def test_a_pipe_is_refused_not_waited_on(tmp_path):
    from tests.helpers import run_cli

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    result = run_cli("check", str(fifo))
    assert result.returncode == 2 and "is not a regular file (a pipe or a device)" in result.stderr
