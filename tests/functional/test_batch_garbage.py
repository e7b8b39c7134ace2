"""Batch commands free what they compute by reference counting, so the console script can let the
cyclic collector wait long (``cli._collect_less_often``): ``nnlab validate`` of every bundled file
leaves no cyclic garbage, and a session dropped by ``validate`` takes its arrays with it at once."""

from __future__ import annotations

import contextlib
import io

from nnlab import cli
from nnlab.library import bundled
from tests.helpers import cyclic_garbage


def _validate_all(files: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.cmd_validate(files, None) == 0


def test_validate_of_every_bundled_file_leaves_no_cyclic_garbage():
    files = [str(p) for p in bundled()]
    _validate_all(files)  # the first pass imports modules on first use (an import may leave garbage)
    with cyclic_garbage() as found:
        _validate_all(files)
    assert not found, f"cycles left by validate: {found.most_common(8)}"
