"""The engine keeps freed array memory for reuse (glibc), so repeated runs do not fault."""

import platform
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from nnlab.engine import memory
    from nnlab.engine.graph import build_graph
    from nnlab.engine.run import run_graph
    from nnlab.scenario import loads

    small = build_graph(loads("nnlab: 1\\ntitle: s\\nvalues: {x: [1.0, 2.0]}\\ncompute:\\n  - y = sum(x * x)\\nbackward: y\\n"))
    run_graph(small)
    assert not memory.tried, "a small graph must not touch malloc"
    big = build_graph(loads("nnlab: 1\\ntitle: b\\nvalues:\\n"
                            "  Q: {shape: [256, 32], init: normal, seed: 1}\\n"
                            "  K: {shape: [256, 32], init: normal, seed: 2}\\n"
                            "  V: {shape: [256, 32], init: normal, seed: 3}\\n"
                            "compute:\\n  - C = attention(Q, K, V)\\n  - s = sum(C)\\nbackward: s\\n"))
    for _ in range(3):
        run_graph(big)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        run_graph(big)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
    print(memory.tried, memory.keep_freed_memory(), faults)
""")


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_large_runs_reuse_freed_memory():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    tried, tuned, faults = out.split()
    assert tried == "True" and tuned == "True"
    assert float(faults) < 50   # about 700 per run with NNLAB_MALLOC=default (freed blocks go back to the kernel)


def test_malloc_can_be_left_alone():
    script = ("import os; os.environ['NNLAB_MALLOC'] = 'default'\n"
              "from nnlab.engine import memory; print(memory.keep_freed_memory(), memory.tried)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
