"""Saving answers from the check screen never loses or corrupts the user's file (issue 18, point 3).

Each test asserts the file's exact content afterwards.
"""

from __future__ import annotations

import contextlib
import os
import stat

import pytest
import yaml

from nnlab.library import scenarios_dir
from nnlab.scenario.model import load
from nnlab.tui.answers import SaveRefused, answer_texts, save_answers, yaml_value
from tests.functional.tui.conftest import FIXTURES, wait_for, wait_loaded

HEAD = "nnlab: 1\ntitle: t\nvalues:\n  a: 2\n  v: [1, 2]\ncompute:\n  - b = a * 3\n  - w = v * 2\nexpect:\n"
FILE = HEAD + "  # mine\n  a: 2\n  b: 5   # first try\n  w: [2, 4]\n"


def write(tmp_path, text: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def entries(path) -> dict:
    return {e.ref: e for e in load(str(path)).expect}


def save(path, answers: dict[str, str], base: dict[str, str] | None = None):
    """Save as the check screen does: ``base`` is the file's answers when the screen opened."""
    base = answer_texts(str(path)) if base is None else base
    return save_answers(str(path), answers, base, entries(path))


def leftovers(tmp_path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if "nnlab-tmp" in p.name or p.name.startswith("."))


def test_an_editor_change_to_another_answer_is_kept(tmp_path):
    path = write(tmp_path, FILE)
    base = answer_texts(str(path))                      # the check screen opens
    edited = FILE.replace("mine\n  a: 2\n", "mine\n  a: 2.0   # edited meanwhile\n")
    path.write_text(edited)                             # the editor saves
    assert save(path, {"b": "6"}, base) == ["b"]
    assert path.read_text() == edited.replace("b: 5", "b: 6")
    assert leftovers(tmp_path) == []


def test_an_answer_changed_both_on_disk_and_in_the_screen_is_refused(tmp_path):
    path = write(tmp_path, FILE)
    base = answer_texts(str(path))
    edited = FILE.replace("b: 5", "b: 7")
    path.write_text(edited)
    with pytest.raises(SaveRefused, match="b changed in the file"):
        save(path, {"b": "6"}, base)
    assert path.read_text() == edited
    assert save(path, {"b": "7"}, base) == []          # the same change on both sides: nothing to do


def test_block_style_answers_stay_valid_yaml(tmp_path):
    text = HEAD.replace("expect:\n", "") + ("  - c = b + 1\nexpect:\n  w:\n    - 2\n    - 4\n  b: |\n    a * 3\n"
                                            "  c: 8   # last\n")
    path = write(tmp_path, text)
    assert save(path, {"c": "7"}) == ["c"]              # another answer: the blocks are untouched
    assert path.read_text() == text.replace("c: 8", "c: 7")
    assert save(path, {"w": "[2, 5]", "b": "6"}) == ["w", "b"]
    assert path.read_text() == HEAD.replace("expect:\n", "") + "  - c = b + 1\nexpect:\n  w:\n    [2, 5]\n  b: 6\n  c: 7   # last\n"
    assert yaml.safe_load(path.read_text())["expect"] == {"w": [2, 5], "b": 6, "c": 7}


def test_block_list_at_the_keys_indentation(tmp_path):
    text = HEAD + "  w:\n  - 2\n  - 4\n  b: 6\n"
    path = write(tmp_path, text)
    assert save(path, {"w": "[2, 4.0]"}) == ["w"]
    assert path.read_text() == HEAD + "  w:\n    [2, 4.0]\n  b: 6\n"
    assert load(str(path)).expect[0].ref == "w"


@pytest.mark.parametrize("typed", ["&a", '!!python/object/apply:os.system ["x"]', "*a", "{x: 1}", "a: b"])
def test_yaml_syntax_typed_as_an_answer_is_quoted_by_the_emitter(typed):
    out = yaml_value(typed)
    assert out[0] in "'\"" and yaml.safe_load(f"v: {out}") == {"v": typed}


@pytest.mark.parametrize("typed", ["&a", '!!python/object/apply:os.system ["x"]', "sigmoid(", "1 +"])
def test_an_unreadable_answer_is_refused_and_nothing_is_written(tmp_path, typed):
    path = write(tmp_path, FILE)
    with pytest.raises(SaveRefused, match="cannot be read"):
        save(path, {"a": "3", "b": typed})
    assert path.read_text() == FILE
    assert leftovers(tmp_path) == []


def test_numbers_keep_their_digits_and_expressions_are_quoted(tmp_path):
    path = write(tmp_path, FILE)
    assert save(path, {"a": "2.00", "b": "a · 3", "w": "[2, −4.0]"}) == ["a", "b", "w"]
    assert path.read_text() == FILE.replace("mine\n  a: 2\n", "mine\n  a: 2.00\n").replace("b: 5", "b: 'a · 3'").replace(
        "w: [2, 4]", "w: [2, -4.0]")


def test_a_read_only_file_is_refused(tmp_path):
    path = write(tmp_path, FILE)
    path.chmod(0o444)
    with pytest.raises(SaveRefused, match="read-only"):
        save(path, {"b": "6"})
    assert path.read_text() == FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert leftovers(tmp_path) == []


def test_mode_is_kept(tmp_path):
    path = write(tmp_path, FILE)
    path.chmod(0o640)
    save(path, {"b": "6"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text() == FILE.replace("b: 5", "b: 6")


def test_a_symlink_is_written_through_to_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    target = write(tmp_path / "real", FILE)
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    assert save(link, {"b": "6"}) == ["b"]
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == FILE.replace("b: 5", "b: 6")
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["s.yaml"]


def test_crlf_line_endings_are_kept(tmp_path):
    path = write(tmp_path, FILE.replace("\n", "\r\n"))
    assert save(path, {"b": "6", "w": "[2, 5]"}) == ["b", "w"]
    assert path.read_bytes() == FILE.replace("b: 5", "b: 6").replace("w: [2, 4]", "w: [2, 5]").replace(
        "\n", "\r\n").encode()


def test_a_failed_write_leaves_the_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = write(tmp_path, FILE)

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        save(path, {"b": "6"})
    assert path.read_text() == FILE
    assert leftovers(tmp_path) == []


def test_two_saves_leave_no_temporary_files(tmp_path):
    path = write(tmp_path, FILE)
    save(path, {"b": "6"})
    save(path, {"a": "2.0"})
    assert path.read_text() == FILE.replace("b: 5", "b: 6").replace("mine\n  a: 2\n", "mine\n  a: 2.0\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_a_bundled_scenario_is_saved_as_a_copy_in_the_current_directory(tmp_path, monkeypatch):
    bundled = scenarios_dir() / "conv-output-shape-quiz.yaml"
    original = bundled.read_bytes()
    monkeypatch.chdir(tmp_path)
    saved = save(bundled, {"shape(Y_torch)": "5x7"})
    assert saved == ["shape(Y_torch)"] and saved.copied
    assert saved.path == str(tmp_path / "conv-output-shape-quiz.yaml")
    assert bundled.read_bytes() == original
    assert (tmp_path / "conv-output-shape-quiz.yaml").read_text() == original.decode().replace(
        "shape(Y_torch): [6, 8]", "shape(Y_torch): '5x7'")
    again = save(bundled, {"shape(Y_torch)": "[6, 9]"})
    assert again.path == str(tmp_path / "conv-output-shape-quiz-2.yaml")   # never overwrites a copy


async def test_the_check_screen_keeps_an_editor_change_made_while_it_was_open(copy_fixture):
    from nnlab.tui.app import NnlabApp
    from nnlab.tui.screens.check import CheckScreen

    path = copy_fixture("mlp.yaml")
    original = path.read_text()
    app = NnlabApp(str(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("c")
        check = app.screen
        assert isinstance(check, CheckScreen)
        edited = original.replace("yhat: -0.073", "yhat: -0.0730   # from my notes")
        path.write_text(edited)                          # an editor saves meanwhile
        row = next(r for r in check.rows if r.ref == "grad(W2)[0, 0]")
        row.input.focus()
        row.input.value = ""
        await pilot.press(*"-1.336")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "-1.336" in path.read_text())
    assert path.read_text() == edited.replace("grad(W2)[0, 0]: 0.5 ", "grad(W2)[0, 0]: -1.336 ")
    assert FIXTURES.joinpath("mlp.yaml").read_text() == original


async def test_reopening_the_check_screen_follows_the_file_for_answers_you_did_not_type(copy_fixture):
    from nnlab.tui.app import NnlabApp

    path = copy_fixture("mlp.yaml")
    original = path.read_text()
    app = NnlabApp(str(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        lab = app.screen
        await pilot.press("c", "escape")                 # look, touch nothing, leave
        edited = original.replace("yhat: -0.073", "yhat: -0.0730")
        path.write_text(edited)                          # then the editor changes an answer
        await pilot.press("c")
        check = app.screen
        assert next(r for r in check.rows if r.ref == "yhat").input.value == "-0.0730"
        row = next(r for r in check.rows if r.ref == "grad(W2)[0, 0]")
        row.input.focus()
        row.input.value = ""
        await pilot.press(*"-1.336", "ctrl+s")
        await wait_for(pilot, lambda: "-1.336" in path.read_text())
        assert lab.answers == {}                         # saved: nothing pending any more
    assert path.read_text() == edited.replace("grad(W2)[0, 0]: 0.5 ", "grad(W2)[0, 0]: -1.336 ")


async def _conflict(copy_fixture, pilot_keys: tuple[str, ...]):
    """Type -1.336 for grad(W2)[0, 0] and 0.25 for yhat, change grad(W2)[0, 0] to -1.3 in the file, save, answer."""
    from nnlab.tui.app import NnlabApp
    from nnlab.tui.screens.conflict import ConflictScreen

    path = copy_fixture("mlp.yaml")
    original = path.read_text()
    app = NnlabApp(str(path))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_loaded(pilot)
        lab = app.screen
        await pilot.press("c")
        check = app.screen
        for ref, typed in (("grad(W2)[0, 0]", "-1.336"), ("yhat", "0.25")):
            row = next(r for r in check.rows if r.ref == ref)
            row.input.focus()
            row.input.value = ""
            await pilot.press(*typed)
        edited = original.replace("grad(W2)[0, 0]: 0.5 ", "grad(W2)[0, 0]: -1.3 ")
        path.write_text(edited)                          # the editor changes the same answer
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConflictScreen)    # asked, and nothing written yet
        assert (app.screen.on_disk, app.screen.typed) == ({"grad(W2)[0, 0]": "-1.3"}, {"grad(W2)[0, 0]": "-1.336"})
        from rich.console import Console

        console = Console(width=100, record=True, file=open(os.devnull, "w"))
        console.print(app.screen.query_one("#conflict-table").visual._renderable)
        assert [line.split() for line in console.export_text().splitlines()] == [
            ["reference", "in", "the", "file", "now", "you", "typed"], ["grad(W2)[0,", "0]", "-1.3", "-1.336"]]
        assert path.read_text() == edited
        await pilot.press(*pilot_keys)
        await pilot.pause()
        return path, original, edited, app.screen, lab, check


async def test_a_conflict_asks_and_overwrite_writes_mine(copy_fixture):
    path, original, edited, app, lab, check = await _conflict(copy_fixture, ("o",))
    assert path.read_text() == edited.replace("grad(W2)[0, 0]: -1.3 ", "grad(W2)[0, 0]: -1.336 ").replace(
        "yhat: -0.073", "yhat: 0.25")
    assert lab.answers == {}


async def test_a_conflict_asks_and_keep_saves_only_the_other_answers(copy_fixture):
    path, original, edited, app, lab, check = await _conflict(copy_fixture, ("k",))
    assert path.read_text() == edited.replace("yhat: -0.073", "yhat: 0.25")
    assert next(r for r in check.rows if r.ref == "grad(W2)[0, 0]").input.value == "-1.3"


async def test_a_conflict_cancelled_writes_nothing_and_keeps_what_you_typed(copy_fixture):
    path, original, edited, screen, lab, check = await _conflict(copy_fixture, ("escape",))
    assert path.read_text() == edited
    assert screen is check
    assert next(r for r in check.rows if r.ref == "grad(W2)[0, 0]").input.value == "-1.336"


def test_a_block_mapping_answer_with_a_block_list_value(tmp_path):
    text = HEAD + "  w:\n    value:\n      - 2\n      - 4\n    abs: 0.1\n  b: 6\n"
    path = write(tmp_path, text)
    assert save(path, {"w": "[2, 4.5]"}) == ["w"]
    assert path.read_text() == HEAD + "  w:\n    value:\n      [2, 4.5]\n    abs: 0.1\n  b: 6\n"
    assert [e.ref for e in load(str(path)).expect] == ["w", "b"]


def test_a_hard_link_keeps_the_old_content_the_saved_name_gets_the_answers(tmp_path):
    """Documented behaviour: the save replaces the file (atomic rename), so another hard link is not updated."""
    path = write(tmp_path, FILE)
    other = tmp_path / "other.yaml"
    os.link(path, other)
    save(path, {"b": "6"})
    assert path.read_text() == FILE.replace("b: 5", "b: 6")
    assert other.read_text() == FILE


def _saver_process(path: str, ref: str, values: list[str], base: dict[str, str]) -> None:
    """One nnlab process saving its own answer again and again (for the concurrency test)."""
    known = entries(path)
    for value in values:
        save_answers(path, {ref: value}, {**base, ref: answer_texts(path)[ref]}, known)


def test_two_saving_processes_keep_both_answers(tmp_path):
    """Savers lock the directory for read-edit-rename: neither process loses the other's answer."""
    import multiprocessing

    path = write(tmp_path, FILE)
    base = answer_texts(str(path))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_saver_process, args=(str(path), ref, values, base))
             for ref, values in (("b", [f"{k}" for k in range(6, 306)]), ("a", [f"{k}.5" for k in range(300)]))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert path.read_text() == FILE.replace("b: 5", "b: 305").replace("mine\n  a: 2\n", "mine\n  a: 299.5\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_two_savers_at_once_never_corrupt_the_file(tmp_path):
    """Two threads saving the same answer: each save is whole (the last one wins), no temporary file stays."""
    import threading

    path = write(tmp_path, FILE)
    base, known = answer_texts(str(path)), entries(path)
    errors = []

    def saver(value: str) -> None:
        try:
            for _ in range(20):
                with contextlib.suppress(SaveRefused):  # the other saver changed b in between: a fair refusal
                    save_answers(str(path), {"b": value}, {**base, "b": answer_texts(str(path))["b"]}, known)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=saver, args=(v,)) for v in ("6", "7")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert path.read_text() in (FILE.replace("b: 5", "b: 6"), FILE.replace("b: 5", "b: 7"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_kill_9_during_saves_leaves_a_whole_file_and_the_next_save_sweeps_up(tmp_path):
    """SIGKILL at random moments of a saving loop: the file is always the old or a new whole version."""
    import random
    import signal
    import subprocess
    import sys
    import time

    path = write(tmp_path, FILE)
    versions = {FILE} | {FILE.replace("b: 5", f"b: {k}") for k in range(100, 100000)}
    script = ("import sys\nfrom tests.functional.tui.test_saves import _saver_process, answer_texts\n"
              "p = sys.argv[1]\n_saver_process(p, 'b', [str(k) for k in range(100, 100000)], answer_texts(p))\n")
    rng = random.Random(7)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=os.getcwd())
        time.sleep(0.4 + rng.random() * 0.4)             # past start-up, somewhere inside a save
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert path.read_text() in versions
        yaml.safe_load(path.read_text())
    save(path, {"b": "6"})                               # a killed saver's temporary file is swept up
    assert path.read_text() == FILE.replace("b: 5", "b: 6")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs (root only; skipped, saying why, where mounting is not allowed)."""
    import subprocess

    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}); "
                    "the full-disk case needs root with CAP_SYS_ADMIN")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_leaves_the_file_and_no_temporary_file(tiny_tmpfs):
    path = write(tiny_tmpfs, FILE)
    filler = tiny_tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while True:                                      # fill every byte left (unbuffered)
            os.write(fd, b"x" * 512)
    os.close(fd)
    with pytest.raises(OSError) as raised:
        save(path, {"w": "[" + ", ".join(["2.5"] * 4000) + "]"})   # needs more room than is left
    assert raised.value.errno == 28                      # ENOSPC
    assert path.read_text() == FILE
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["filler", "s.yaml"]


async def test_the_check_screen_saves_a_bundled_scenario_to_a_copy_and_then_follows_it(tmp_path, monkeypatch):
    from nnlab.tui.app import NnlabApp

    bundled = scenarios_dir() / "conv-output-shape-quiz.yaml"
    original = bundled.read_text()
    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "conv-output-shape-quiz.yaml"
    app = NnlabApp(str(bundled))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_loaded(pilot)
        lab = app.screen
        await pilot.press("c")
        check = app.screen
        row = next(r for r in check.rows if r.ref == "Y_torch[0, 0]")
        row.input.focus()
        row.input.value = ""
        await pilot.press("1", "ctrl+s")
        await wait_for(pilot, copy.exists)
        assert lab.path == str(copy)
        await wait_for(pilot, lambda: lab.model is not None and lab.model.scenario.expect[3].raw == "1")
        row.input.value = ""
        await pilot.press("0", "ctrl+s")                  # the second save updates the copy
        await wait_for(pilot, lambda: "Y_torch[0, 0]: 0\n" in copy.read_text())
    assert copy.read_text() == original
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".yaml") == [copy.name]
    assert bundled.read_text() == original
