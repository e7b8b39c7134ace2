"""Large steps split over threads (nnlab/engine/parallel.py) give the same results as in one piece."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nnlab.engine import parallel
from nnlab.engine.graph import build_graph
from nnlab.engine.ops.linalg import MatMul
from nnlab.engine.run import run_graph
from nnlab.scenario import loads

SPLITS = parallel.parts_for(512, 1 << 20) > 1
needs_split = pytest.mark.skipif(not SPLITS, reason="needs Linux, OpenBLAS, pthread spin locks and 2+ CPUs")


@pytest.fixture
def one_piece(monkeypatch):
    """Turns splitting off (as on a machine without OpenBLAS)."""
    def off():
        monkeypatch.setattr(parallel, "_blas", False)
    return off


def _graph(compute: str, shapes: dict[str, tuple[int, ...]], backward: str = "s"):
    values = "".join(f"  {name}: {{shape: {list(shape)}, init: normal, seed: {i + 1}}}\n"
                     for i, (name, shape) in enumerate(shapes.items()))
    lines = "".join(f"  - {line}\n" for line in compute.splitlines())
    return build_graph(loads(f"nnlab: 1\ntitle: t\nvalues:\n{values}compute:\n{lines}backward: {backward}\n"))


CASES = {
    "attention": ("C = attention(Q, K, V)\ns = sum(C * G)",
                  {"Q": (512, 64), "K": (512, 64), "V": (512, 64), "G": (512, 64)}),
    "causal, odd sizes": ("C = attention(Q, K, V, mask='causal')\ns = sum(C * G)",
                          {"Q": (301, 48), "K": (333, 48), "V": (333, 40), "G": (301, 40)}),
    "matmul and softmax": ("P = softmax(A @ B)\ns = sum(P * G)",
                           {"A": (400, 300), "B": (300, 500), "G": (400, 500)}),
    "softmax of a stack": ("P = softmax(X)\ns = sum(P * G)", {"X": (4, 130, 257), "G": (4, 130, 257)}),
}


def _run_all(graph):
    run = run_graph(graph)
    return {**{f"value {k}": v for k, v in run.values.items()}, **{f"grad {k}": v for k, v in run.grads.items()}}


def _same(split: np.ndarray, whole: np.ndarray, exact: bool) -> bool:
    """Softmax blocks are row-by-row NumPy: the same bits. A product's row blocks are
    OpenBLAS products of their own, and OpenBLAS itself gives last-bit differences
    between one and two threads for some shapes (301×48 @ 48×333: up to 9e-15), so
    products are held to that, no more."""
    if exact:
        return np.array_equal(split, whole)
    return np.allclose(split, whole, rtol=1e-13, atol=1e-13 * np.abs(whole).max())


@needs_split
@pytest.mark.parametrize("case", CASES)
def test_split_steps_give_the_same_results(case, one_piece):
    graph = _graph(*CASES[case])
    split = _run_all(graph)
    one_piece()
    whole = _run_all(graph)
    assert split.keys() == whole.keys()
    for name, array in whole.items():
        assert _same(split[name], array, exact=case == "softmax of a stack"), name


@needs_split
def test_attention_512_by_64_splits_to_the_same_bits(one_piece):
    """The benchmark's shape: here OpenBLAS's row blocks and whole products agree exactly."""
    graph = _graph(*CASES["attention"])
    split = _run_all(graph)
    one_piece()
    whole = _run_all(graph)
    assert all(np.array_equal(split[name], array) for name, array in whole.items())


@needs_split
@pytest.mark.parametrize("needs", [(True, False), (False, True), (True, True)])
def test_a_product_computes_only_the_gradients_asked_for(needs, one_piece):
    rng = np.random.default_rng(0)
    a, b, g = rng.normal(size=(1, 300, 200)), rng.normal(size=(1, 200, 400)), rng.normal(size=(1, 300, 400))

    def grads():
        op = MatMul()
        op.forward(a, b)
        op.needs = needs
        return op.backward(g)

    split = grads()
    one_piece()
    whole = grads()
    for got, want, needed in zip(split, whole, needs):
        assert (got is None) == (not needed)
        if needed:
            assert _same(got, want, exact=False)


@needs_split
def test_a_block_that_fails_raises_in_the_caller_and_the_lanes_survive():
    seen = []

    def work(k, parts):
        seen.append(k)
        if k == parts - 1:
            raise ValueError("block failed")

    with pytest.raises(ValueError, match="block failed"):
        parallel.split(work, 512, 1 << 20)
    assert sorted(seen) == list(range(parallel.parts_for(512, 1 << 20)))
    out = np.zeros(512)
    parallel.split(lambda k, n: out.__setitem__(parallel.rows(512, k, n), k + 1), 512, 1 << 20)
    assert set(out) == set(range(1, parallel.parts_for(512, 1 << 20) + 1))


@needs_split
def test_blocks_on_lanes_follow_the_callers_numpy_error_state():
    x = np.zeros(1 << 16)

    def work(k, parts):
        np.divide(1.0, x[parallel.rows(len(x), k, parts)])

    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        parallel.split(work, len(x), len(x))
    with np.errstate(divide="ignore"):
        parallel.split(work, len(x), len(x))


@needs_split
def test_hold_restores_the_blas_thread_count_and_lanes_sleep_after_a_run():
    get, _ = parallel._controls()
    before = get()
    with parallel.hold():
        assert get() == 1
        with parallel.hold():
            assert get() == 1
        assert get() == 1
    assert get() == before
    run_graph(_graph(*CASES["attention"]))
    assert get() == before
    assert parallel._lanes and not parallel.lanes_awake()


def test_small_steps_run_in_one_piece_on_the_calling_thread():
    calls = []
    parallel.split(lambda k, n: calls.append((k, n)), 512, parallel.MIN_ELEMENTS - 1)
    assert calls == [(0, 1)]


SUBPROCESS = textwrap.dedent("""
    import os, sys
    import numpy as np
    from nnlab.engine import parallel
    parts = parallel.parts_for(512, 1 << 20)
    if sys.argv[1] == "fork" and parts > 1:
        out = np.zeros(512)
        parallel.split(lambda k, n: out.__setitem__(parallel.rows(512, k, n), 1.0), 512, 1 << 20)
        pid = os.fork()
        if pid == 0:   # the child's lanes are gone: it must make its own, not wait forever
            out[:] = 0
            parallel.split(lambda k, n: out.__setitem__(parallel.rows(512, k, n), 2.0), 512, 1 << 20)
            os._exit(0 if (out == 2.0).all() else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    print(parts)
""")


def test_openblas_num_threads_1_keeps_every_step_in_one_piece():
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", SUBPROCESS, "count"], env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "1"


@needs_split
def test_a_forked_child_splits_with_lanes_of_its_own():
    out = subprocess.run([sys.executable, "-c", SUBPROCESS, "fork"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert int(out) > 1


@needs_split
def test_lanes_sleep_before_a_convolution(monkeypatch):
    """A lane spinning next to OpenBLAS's own threads slows a convolution's product down."""
    graph = _graph("C = attention(Q, K, V)\nY = conv2d(X, W)\ns = sum(C * G) + sum(Y * Y)",
                   {"Q": (512, 64), "K": (512, 64), "V": (512, 64), "G": (512, 64),
                    "X": (8, 32, 32), "W": (16, 8, 3, 3)})
    conv = type(graph.nodes["Y"].op)
    seen = []

    def spy(method):
        def wrapped(self, *args):
            result = method(self, *args)
            seen.append(parallel.lanes_awake())
            return result
        return wrapped

    forward, backward = conv.forward, conv.backward
    monkeypatch.setattr(conv, "forward", spy(forward))
    monkeypatch.setattr(conv, "backward", spy(backward))
    run_graph(graph)
    assert seen == [False, False]  # asleep during the conv's products, forward and backward
    assert not parallel.lanes_awake()


@needs_split
def test_a_failure_after_posting_still_waits_for_the_lanes(monkeypatch):
    out = np.zeros(512)

    def slow_block(k, parts):
        if k:
            import time
            time.sleep(0.05)
        out[parallel.rows(512, k, parts)] = 1.0

    post = parallel._Lane.post

    def post_then_fail(self, *args):
        post(self, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel._Lane, "post", post_then_fail)
    with pytest.raises(KeyboardInterrupt):
        parallel.split(slow_block, 512, 1 << 20)
    assert out[256:].all()  # the lane's block had finished before the interrupt went on
    monkeypatch.setattr(parallel._Lane, "post", post)
    out[:] = 0
    parallel.split(slow_block, 512, 1 << 20)
    assert out.all()


@needs_split
def test_a_session_that_ends_inside_a_block_does_not_deadlock():
    import threading

    def block(k, parts):
        with parallel.session():
            pass

    worker = threading.Thread(target=parallel.split, args=(block, 512, 1 << 20), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert not parallel.lanes_awake()


FORK_WHILE_BUSY = textwrap.dedent("""
    import os, threading
    import numpy as np
    from nnlab.engine import parallel
    get = parallel._controls()[0]
    threads = get()
    inside, release = threading.Event(), threading.Event()

    def runner():   # another thread: in a run, in a split, holding the lock and the BLAS
        with parallel.session():
            def block(k, n):
                if k == 0:
                    inside.set()
                    release.wait()
            parallel.split(block, 512, 1 << 20)

    t = threading.Thread(target=runner)
    t.start()
    inside.wait()
    pid = os.fork()
    if pid == 0:
        ok = get() == threads   # the BLAS got its threads back
        out = np.zeros(512)
        with parallel.session():
            parallel.split(lambda k, n: out.__setitem__(parallel.rows(512, k, n), 1.0), 512, 1 << 20)
        ok = ok and out.all() and not parallel.lanes_awake() and parallel._sessions == 0
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    release.set()
    t.join()
    print(os.waitstatus_to_exitcode(status), get() == threads, parallel.lanes_awake())
""")


@needs_split
def test_a_child_forked_during_another_threads_run_starts_clean():
    out = subprocess.run([sys.executable, "-c", FORK_WHILE_BUSY], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.split() == ["0", "True", "False"]


def _attention_with(scale: float):
    text = ("nnlab: 1\ntitle: t\nvalues:\n"
            f"  Q: {{shape: [512, 64], init: normal, seed: 1, scale: {scale}}}\n"
            f"  K: {{shape: [512, 64], init: normal, seed: 2, scale: {scale}}}\n"
            "  V: {shape: [512, 64], init: normal, seed: 3}\n"
            "compute:\n  - C = attention(Q, K, V)\n  - s = sum(C)\nbackward: s\n")
    return build_graph(loads(text))


@needs_split
def test_an_overflow_inside_a_split_product_is_still_reported():
    from nnlab.errors import NnlabError

    with pytest.raises(NnlabError, match=r"inf appears at step 1 \(C.scores"):
        run_graph(_attention_with(1e160))


@needs_split
def test_large_finite_products_are_not_reported():
    """1e160-sized scores overflow a block's sum of squares but are finite: the engine checks again."""
    run = run_graph(_attention_with(1e80))
    assert np.isfinite(run.values["C.scores"]).all() and np.abs(run.values["C.scores"]).max() > 1e155


@needs_split
def test_a_product_changed_after_its_check_is_checked_again():
    """Affine adds its bias in place to a product its blocks had found finite: the sum
    is the engine's to check (here it cannot overflow, since a product whose sum of
    squares is finite stays below 1e154, but the rule must not depend on that)."""
    from nnlab.engine.run import _checked_by

    graph = _graph("Y = A @ B + c\ns = sum(Y)", {"A": (300, 200), "B": (200, 400), "c": (400,)})
    assert graph.nodes["Y"].op.name == "affine"
    run = run_graph(graph, target=None)
    assert not _checked_by(run.ops["Y"], run.values["Y"])
    plain = run_graph(_graph("Y = A @ B\ns = sum(Y)", {"A": (300, 200), "B": (200, 400)}), target=None)
    assert _checked_by(plain.ops["Y"], plain.values["Y"])
