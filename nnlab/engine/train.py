"""Training: the perceptron rule and (minibatch) gradient descent, every update a step.

A training run keeps only **parameter snapshots** (one per update) and a small
record per update; the forward/backward detail of any update is recomputed from
its snapshot on demand, so a 10,000-epoch run stays small and stepping backward
"undoes" an update by moving an index.

Conventions:

* Perceptron: ``p += η·(y − ŷ)·∂z/∂p`` where ``z`` is the argument of the ``step``
  that produces ``predict``; for ``z = w @ x + b`` that is the lecture's
  ``w += η(y − ŷ)x`` and ``b += η(y − ŷ)``. An *update* is one example; it may
  change nothing (ŷ = y). Training stops after the first epoch without a mistake,
  or when the parameters at the end of an epoch equal those at the end of an
  earlier epoch (a cycle — it can never converge), or after ``epochs``.
* Gradient descent: ``p −= η · mean gradient`` of ``loss`` over the batch (one
  vectorized run per batch). ``batch: full`` (default) or N (1 = SGD).
* Arithmetic: the perceptron computes exactly on the decimals as written
  (η = 0.1, w = 0.3 land on exactly 0 like a student's hand computation) whenever
  the graph is rational; gradient descent uses float64 unless
  ``options.arithmetic: exact`` is asked for (exact denominators grow every step).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from nnlab.engine.graph import Graph, build_graph
from nnlab.engine.ops.base import grad_label, num
from nnlab.engine.run import Run, choose_arithmetic, leaf_array, run_graph, to_float
from nnlab.engine.trace import BACKWARD, FORWARD, UPDATE, Explanation, Step, Use
from nnlab.errors import NnlabError, did_you_mean
from nnlab.numfmt import as_float, fmt, fmt_index
from nnlab.scenario.model import Scenario

TRAIN_KEYS = ("rule", "predict", "target", "lr", "epochs", "order", "seed", "loss", "batch")
RULES = ("perceptron", "gd")


@dataclass(frozen=True)
class TrainConfig:
    """The validated ``train:`` block."""

    rule: str
    lr: Any
    epochs: int
    order: str
    seed: int
    batch: int | None  # None = full batch
    predict: str | None
    target: str | None
    loss: str | None
    z: str | None  # perceptron: the argument of step feeding `predict`


@dataclass(frozen=True)
class UpdateRecord:
    """One update: which examples, in which epoch, and what happened.

    Attributes:
        epoch: 1-based epoch.
        number: 1-based update number.
        examples: Indices of the examples (one for the perceptron, a batch for gd).
        changed: Whether any parameter changed.
        error: Perceptron: y − ŷ for the example.
        loss: gd: the batch's mean loss before the update.
    """

    epoch: int
    number: int
    examples: tuple[int, ...]
    changed: bool
    error: Any = None
    loss: float | None = None


@dataclass
class Training:
    """The result of training: snapshots, records and the summary facts."""

    scenario: Scenario
    graph: Graph
    config: TrainConfig
    params: list[str]
    arithmetic: str
    snapshots: list[dict[str, np.ndarray]]   # [0] = start, [u] = after update u (batch-first arrays)
    records: list[UpdateRecord]
    epoch_end: list[int]                      # update count at the end of each epoch ([0] = 0)
    mistakes: list[int] = field(default_factory=list)
    converged: bool = False
    cycle_start: int | None = None
    cycle_length: int | None = None
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    wrt: frozenset[str] | None = None
    _data: dict = field(default_factory=dict, repr=False)  # data leaves, converted once

    # ---------------------------------------------------------------- facts
    @property
    def epochs(self) -> int:
        """Epochs run."""
        return len(self.epoch_end) - 1

    @property
    def updates(self) -> int:
        """Updates that changed something."""
        return sum(r.changed for r in self.records)

    @property
    def first_clean_epoch(self) -> int | None:
        """First epoch without a mistake (perceptron)."""
        return next((i + 1 for i, m in enumerate(self.mistakes) if m == 0), None)

    @property
    def last_update_epoch(self) -> int | None:
        """The last epoch in which an update changed something."""
        changed = [r.epoch for r in self.records if r.changed]
        return changed[-1] if changed else None

    def facts(self) -> dict[str, Any]:
        """The ``train.*`` names visible to references."""
        return {"train.mistakes": list(self.mistakes), "train.converged": self.converged,
                "train.first_clean_epoch": self.first_clean_epoch, "train.last_update_epoch": self.last_update_epoch,
                "train.updates": self.updates, "train.cycle_start": self.cycle_start,
                "train.cycle_length": self.cycle_length, "train.epochs": self.epochs}

    def summary(self) -> str:
        """One line: how training ended."""
        if self.config.rule == "perceptron":
            if self.converged:
                return f"converged: epoch {self.first_clean_epoch} had no mistake ({self.updates} updates changed w)"
            if self.cycle_start is not None:
                return (f"never converges: the weights after epoch {self.cycle_start + self.cycle_length} equal those "
                        f"after epoch {self.cycle_start} — a cycle of {self.cycle_length} epoch(s)")
            return f"stopped after {self.epochs} epochs without converging"
        return f"{self.epochs} epochs, {len(self.records)} updates"

    # ------------------------------------------------------------ evaluation
    def leaves_at(self, snapshot: int, examples: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
        """Leaf arrays for the parameters after ``snapshot`` updates, on some (or all) examples."""
        leaves = dict(self.snapshots[snapshot])
        exact = self.arithmetic == "exact"
        rows: Any = None
        if examples is not None:  # a run of consecutive examples is a view, not a copy
            first = examples[0]
            consecutive = examples[-1] - first == len(examples) - 1 and list(examples) == list(
                range(first, first + len(examples)))
            rows = slice(first, first + len(examples)) if consecutive else list(examples)
        for name in self.scenario.data:
            full = self._data.get(name)
            if full is None:
                full = self._data[name] = leaf_array(self.graph.nodes[name], exact)
            leaves[name] = full if rows is None else full[rows]
        return leaves

    def run_at(self, snapshot: int, examples: tuple[int, ...] | None = None, target: str | None = None,
               record: bool = True) -> Run:
        """Run the graph with the parameters after ``snapshot`` updates (cached, recomputed on demand)."""
        key = (snapshot, examples, target, record)
        run = self._cache.get(key)
        if run is None:
            run = run_graph(self.graph, self.leaves_at(snapshot, examples), target=target, record=record,
                            arithmetic=self.arithmetic)
            self._cache[key] = run
            if len(self._cache) > 64:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return run

    @property
    def loss_target(self) -> str | None:
        """The node whose gradient ``grad(NAME)`` means (``backward`` or the training loss)."""
        return self.scenario.backward or self.config.loss

    def update_run(self, number: int) -> Run:
        """The recorded detail of update ``number`` (1-based): forward (and backward) on its examples."""
        rec = self.records[number - 1]
        target = self.config.loss if self.config.rule == "gd" else None
        return self.run_at(number - 1, rec.examples, target=target)


# ------------------------------------------------------------------------ config


def _config(s: Scenario, graph: Graph) -> TrainConfig:
    t = s.train or {}
    node = s.train_node

    def loc(key):
        if node is not None and key in node.key_locs:
            return node.key_locs[key].shifted(0, len(key))
        return node.loc if node is not None else None

    def vloc(key):
        return node.value[key].loc if node is not None and key in node.value else loc(key)

    for key in t:
        if key not in TRAIN_KEYS:
            raise NnlabError(f"unknown train key '{key}'", loc(key), did_you_mean(key, TRAIN_KEYS), kind="format")
    rule = t.get("rule")
    if rule not in RULES:
        raise NnlabError(f"train.rule must be 'perceptron' or 'gd', got {rule!r}", vloc("rule"),
                         did_you_mean(str(rule), RULES), kind="format")
    if not s.data:
        raise NnlabError("training needs data: (one row per example)", loc("rule"), kind="format")
    if not s.learn:
        raise NnlabError("training needs learn: (the parameters to update)", loc("rule"), kind="format")
    lr_node = node.value.get("lr") if node is not None else None
    if lr_node is None or isinstance(lr_node.value, bool) or not isinstance(lr_node.value, (int, float)):
        raise NnlabError("train.lr must be a number (the learning rate η)", vloc("lr") if lr_node else loc("rule"),
                         kind="format")
    if not math.isfinite(as_float(lr_node.value)) or lr_node.value <= 0:
        raise NnlabError(f"train.lr must be a positive finite number, got {lr_node.raw}", vloc("lr"),
                         "a learning rate such as 0.1", kind="format")
    lr = Fraction(lr_node.raw) if isinstance(lr_node.value, float) else Fraction(lr_node.value)
    epochs = t.get("epochs", 50)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise NnlabError("train.epochs must be a positive whole number", vloc("epochs"), kind="format")
    order = t.get("order", "sequential")
    if order not in ("sequential", "shuffle"):
        raise NnlabError("train.order must be 'sequential' or 'shuffle'", vloc("order"), kind="format")
    seed = t.get("seed", 0)
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise NnlabError(f"train.seed must be a whole number ≥ 0, got {seed!r}", vloc("seed"), kind="format")
    batch = t.get("batch", "full")
    n = len(next(iter(s.data.values())).array)
    if batch == "full":
        batch = None
    elif isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise NnlabError("train.batch must be a positive whole number or 'full'", vloc("batch"), kind="format")
    elif batch >= n:
        batch = None

    def node_name(key):
        name = t.get(key)
        if name is None:
            return None
        if name not in graph.nodes:
            raise NnlabError(f"train.{key} names '{name}', which is not a node", vloc(key),
                             did_you_mean(str(name), [k for k in graph.nodes if "#" not in k]), kind="name")
        return name

    predict, target, loss, z = node_name("predict"), node_name("target"), node_name("loss"), None
    if rule == "perceptron":
        if predict is None or target is None:
            raise NnlabError("the perceptron rule needs predict: (the step output) and target: (the label)",
                             loc("rule"), kind="format")
        pnode = graph.nodes[predict]
        if pnode.kind != "op" or pnode.op.name != "step":
            raise NnlabError(f"train.predict must be a step(…) node, but '{predict}' is not", vloc("predict"),
                             "the perceptron rule updates with η(y − ŷ)·∂z/∂p where ŷ = step(z).", kind="format")
        z = pnode.inputs[0]
    else:
        if loss is None:
            raise NnlabError("gradient descent needs loss: (the node to minimize)", loc("rule"), kind="format")
    return TrainConfig(rule, lr, epochs, order, seed, batch, predict, target, loss, z)


def _param_names(s: Scenario) -> list[str]:
    out = []
    for n in s.learn:
        out.extend([n] if n in s.values else [v for v in s.values if v.startswith(n + ".")])
    return out


# ---------------------------------------------------------------------- training


def train(scenario: Scenario) -> Training:
    """Train a scenario with a ``train:`` block.

    Raises:
        NnlabError: For an invalid ``train:`` block, or NaN/inf during training.
    """
    graph = build_graph(scenario)
    cfg = _config(scenario, graph)
    mode = scenario.options.get("arithmetic", "auto")
    if cfg.rule == "perceptron" or mode == "exact":
        arithmetic = choose_arithmetic(graph)
    else:
        arithmetic = "float64"
    exact = arithmetic == "exact"
    params = _param_names(scenario)
    start = {p: leaf_array(graph.nodes[p], exact) for p in params}
    if not exact:
        start = {p: a.astype(float) for p, a in start.items()}
    tr = Training(scenario, graph, cfg, params, arithmetic, [start], [], [0])
    lr = cfg.lr if exact else float(cfg.lr)
    n = len(next(iter(scenario.data.values())).array)
    rng = np.random.default_rng(cfg.seed)
    history = {_key(start): 0} if cfg.rule == "perceptron" else {}
    tr.wrt = _requires(graph, params)
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(n) if cfg.order == "shuffle" else np.arange(n)
        if cfg.rule == "perceptron":
            wrong = _perceptron_epoch(tr, order, epoch, lr)
            tr.mistakes.append(wrong)
        else:
            _gd_epoch(tr, order, epoch, lr)
        tr.epoch_end.append(len(tr.records))
        if cfg.rule == "perceptron":
            if wrong == 0:
                tr.converged = True
                break
            key = _key(tr.snapshots[-1])
            if key in history:
                tr.cycle_start = history[key]
                tr.cycle_length = epoch - history[key]
                break
            history[key] = epoch
    return tr


def _requires(graph: Graph, params: list[str]) -> frozenset[str]:
    """The parameters and every node computed from them: what needs a gradient during training."""
    out = set(params)
    for nid in graph.order:
        if any(i in out for i in graph.nodes[nid].inputs):
            out.add(nid)
    return frozenset(out)


def _key(snapshot: dict[str, np.ndarray]) -> tuple:
    return tuple((k, tuple(np.asarray(v).reshape(-1).tolist())) for k, v in sorted(snapshot.items()))


def _perceptron_epoch(tr: Training, order: np.ndarray, epoch: int, lr: Any) -> int:
    cfg = tr.config
    wrong = 0
    for i in order:
        params = tr.snapshots[-1]
        run = run_graph(tr.graph, tr.leaves_at(len(tr.snapshots) - 1, (int(i),)), target=cfg.z, record=False,
                        arithmetic=tr.arithmetic, wrt=tr.wrt)
        yhat = run.values[cfg.predict].reshape(-1)[0]
        y = run.values[cfg.target].reshape(-1)[0]
        err = y - yhat
        new = dict(params)
        changed = err != 0
        if changed:
            wrong += 1
            for p in tr.params:
                dz = run.grads.get(p)
                if dz is None:
                    continue
                new[p] = params[p] + lr * err * dz
        tr.snapshots.append(new)
        tr.records.append(UpdateRecord(epoch, len(tr.records) + 1, (int(i),), bool(changed), err))
    return wrong


def _gd_epoch(tr: Training, order: np.ndarray, epoch: int, lr: Any) -> None:
    cfg = tr.config
    size = len(order) if cfg.batch is None else cfg.batch
    for start in range(0, len(order), size):
        batch = tuple(order[start:start + size].tolist())
        params = tr.snapshots[-1]
        leaves = tr.leaves_at(len(tr.snapshots) - 1, batch)
        run = run_graph(tr.graph, leaves, target=cfg.loss, record=False, arithmetic=tr.arithmetic, wrt=tr.wrt,
                        check_finite=False)
        loss = float(np.mean(to_float(run.values[cfg.loss])))
        new = _descend(params, {p: run.grads.get(p) for p in tr.params}, lr, keep=leaves.values())
        del run  # _descend may have reused its gradients' memory
        last = start + size >= len(order)  # parameters are checked once per epoch, the loss every update
        if not np.isfinite(loss) or (last and not all(np.isfinite(np.sum(to_float(v))) for v in new.values())):
            # find the first op where it happens, with the full checks on
            run_graph(tr.graph, tr.leaves_at(len(tr.snapshots) - 1, batch), target=cfg.loss, record=False,
                      arithmetic=tr.arithmetic, wrt=tr.wrt)
            raise NnlabError(f"the parameters become nan/inf at update {len(tr.records) + 1} (epoch {epoch}); "
                             "the learning rate may be too large", tr.scenario.loc_of("train", "lr"), kind="nan")
        tr.snapshots.append(new)
        tr.records.append(UpdateRecord(epoch, len(tr.records) + 1, batch, True, loss=loss))


REUSE_MIN = 1024
"""Gradients with at least this many elements become the next snapshot in place."""


def _descend(params: dict[str, Any], grads: dict[str, Any], lr: Any, keep: Any = ()) -> dict[str, Any]:
    """The next snapshot, ``p − lr·∂L/∂p`` for every parameter (``p`` itself without a gradient).

    The gradients come from a run that is thrown away after the update, so the memory
    of a large gradient that belongs to it alone (not shared with another parameter's
    gradient, not a broadcast or transposed view, not a parameter or one of the arrays
    in ``keep`` such as the data) becomes the new value in place: one pass less and no
    new allocation per parameter per update. Gradients under :data:`REUSE_MIN`
    elements are copied instead: for them the view object the snapshot would keep
    alive weighs more than the array (10,001 snapshots of the XOR network: 5 MB).
    """
    roots = {p: _root(g) for p, g in grads.items() if g is not None}
    shared = {id(r) for r in roots.values() if sum(r is q for q in roots.values()) > 1}
    shared |= {id(_root(v)) for v in (*params.values(), *keep) if isinstance(v, np.ndarray)}
    new = {}
    for p, g in grads.items():
        if g is None:
            new[p] = params[p]
            continue
        root = roots[p]
        if (g.size >= REUSE_MIN and g.dtype == np.float64 and g.flags.c_contiguous and root.flags.owndata
                and root.size == g.size and id(root) not in shared):
            root.flags.writeable = True
            g.flags.writeable = True
            step = g
            step *= -lr
        else:
            step = g * (-lr)
        step += params[p]
        new[p] = step
    return new


def _root(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


# ----------------------------------------------------------------------- steps


class TrainSteps(Sequence):
    """The steps of a training run, made on demand: one group per update.

    A group is the forward steps on the update's example(s), the backward steps
    (gd), then one ``update`` step per parameter. All groups share one layout, so
    step ``k`` is group ``k // G``, offset ``k % G`` — nothing is stored per step.
    """

    def __init__(self, tr: Training) -> None:
        self.tr = tr
        template = tr.update_run(1) if tr.records else None
        self.template = template.steps if template is not None else ()
        self.group = len(self.template) + len(tr.params)

    def __len__(self) -> int:
        return self.group * len(self.tr.records)

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(k)
        u, off = divmod(k, self.group)
        rec = self.tr.records[u]
        if off < len(self.template):
            t = self.template[off]
            return Step(k, t.phase, t.node, t.label, t.op, t.inputs, t.line, t.shape, t.accumulates,
                        epoch=rec.epoch, update=rec.number)
        p = self.tr.params[off - len(self.template)]
        node = self.tr.graph.nodes[p]
        if self.tr.config.rule == "perceptron":
            label = f"{p} ← {p} + η·(y − ŷ)·∂{self.tr.config.z}/∂{p}"
        else:
            label = f"{p} ← {p} − η·∂{self.tr.config.loss}/∂{p}"
        return Step(k, UPDATE, p, label, "update", (p,), -1, node.shape, epoch=rec.epoch, update=rec.number)

    def inner(self, step: Step) -> Step | None:
        """The step inside the update's own run that ``step`` stands for (None for update steps)."""
        off = step.index % self.group
        return self.template[off] if off < len(self.template) else None

    def first_of_epoch(self, epoch: int) -> int:
        """Index of the first step of ``epoch``."""
        return self.tr.epoch_end[epoch - 1] * self.group


def explain_update(tr: Training, number: int, param: str, element: tuple[int, ...], digits: int = 4) -> Explanation:
    """The arithmetic of one parameter element in update ``number``."""
    idx = tuple(element)
    at = (0,) + idx
    old = tr.snapshots[number - 1][param][at]
    new = tr.snapshots[number][param][at]
    lr = tr.config.lr
    rec = tr.records[number - 1]
    lhs = f"{param}{fmt_index(idx)}"
    if tr.config.rule == "perceptron":
        run = tr.run_at(number - 1, rec.examples, target=tr.config.z, record=False)
        dz = run.grads.get(param)
        d = dz[at] if dz is not None else 0
        y = run.values[tr.config.target].reshape(-1)[0]
        yhat = run.values[tr.config.predict].reshape(-1)[0]
        formula = f"{param} ← {param} + η·(y − ŷ)·∂{tr.config.z}/∂{param}"
        arithmetic = (f"{num(old, digits)} + {fmt(lr, digits)}·({fmt(y, digits)} − {fmt(yhat, digits)})·"
                      f"{num(d, digits)}")
        note = "ŷ = y: no change" if y == yhat else f"mistake on example {rec.examples[0]}: update"
    else:
        g = tr.update_run(number).grads[param][at]
        formula = f"{param} ← {param} − η·∂{tr.config.loss}/∂{param}  (mean over the batch)"
        arithmetic = f"{num(old, digits)} − {fmt(lr, digits)}·{num(g, digits)}"
        note = f"batch of {len(rec.examples)} example(s): {list(rec.examples)[:8]}" + (
            "…" if len(rec.examples) > 8 else "")
    return Explanation(f"{lhs} (update {number}, epoch {rec.epoch})", formula, arithmetic, new,
                       (Use(0, idx),), note=note)


__all__ = ["Training", "TrainSteps", "train", "explain_update", "FORWARD", "BACKWARD", "grad_label"]
