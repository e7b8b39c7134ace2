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
