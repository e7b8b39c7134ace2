"""``nnlab check FILE [--json]`` and ``nnlab validate FILE…`` are read without argparse (start-up):
the arguments must be exactly what the parser gives, and anything else must go to the parser."""

import pytest

from nnlab import cli
from tests.helpers import modules_loaded_by

READ = [["check", "a.yaml"], ["check", "a.yaml", "--json"], ["check", "--json", "a b.yaml"],
        ["validate", "a.yaml"], ["validate", "a.yaml", "b.yaml", "dir/c.yaml"]]
TO_PARSER = [["check"], ["check", "a.yaml", "b.yaml"], ["check", "-"], ["check", "--", "a.yaml"],
             ["check", "a.yaml", "--max-elements", "5"], ["check", "a.yaml", "--js"], ["check", ""],
             ["check", "a.yaml", "--json", "--json"], ["check", "-h"], ["validate"], ["validate", "--json"],
             ["validate", "a.yaml", "-x"], ["run", "a.yaml"], ["list"], ["validate", "--max-memory=1G", "a"]]


@pytest.mark.parametrize("argv", READ)
def test_quick_arguments_are_the_parsers(argv):
    assert vars(cli._quick_args(argv)) == vars(cli._parser(argv[0]).parse_args(argv))


@pytest.mark.parametrize("argv", TO_PARSER)
def test_anything_else_goes_to_the_parser(argv):
    assert cli._quick_args(argv) is None


def test_check_and_validate_do_not_import_argparse():
    code = "from nnlab.cli import _quick_args, _dispatch\n_dispatch(_quick_args(['validate', 'missing.yaml']))"
    assert "argparse" not in modules_loaded_by(code)


def test_a_console_command_spares_the_exit_collection_and_still_prints_everything(tmp_path):
    """The console script freezes what it made before the interpreter exits (its last full collection
    walked every object: 10–20 ms of a 100 ms command); the output and exit code are unchanged."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('left for the exit walk:', len(gc.get_objects()), file=sys.stderr))\n"
            "sys.argv = ['nnlab', *sys.argv[1:]]\n"
            "from nnlab.cli import main\nsys.exit(main())")

    def nnlab(*args):
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=root)

    files = [str(root / "scenarios" / name) for name in ("conv-lecture.yaml", "bce-quiz.yaml")]
    bad = tmp_path / "bad.yaml"
    bad.write_text("nnlab: 1\ntitle: t\ncompute:\n  - y = x +\n", encoding="utf-8")
    valid, listed, invalid = nnlab("validate", *files), nnlab("list"), nnlab("check", str(bad))
    assert valid.returncode == 0 and valid.stdout.count(": OK (") == 2
    assert listed.returncode == 0 and "conv-lecture" in listed.stdout
    assert invalid.returncode == 2 and "bad.yaml:4" in invalid.stderr
    for out in (valid, listed, invalid):  # without the freeze: about 29,000 objects after validate
        assert int(out.stderr.rsplit("left for the exit walk:", 1)[1]) < 100
