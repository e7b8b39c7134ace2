"""Training: the perceptron rule and (minibatch) gradient descent, every update a step.

A training run keeps a small record per update and the parameters only as
**checkpoints** every ``k`` updates (:class:`Snapshots`): the parameters after any
other update are recomputed from the nearest checkpoint before it by replaying the
recorded updates with the same arithmetic (bitwise the same values), and the
forward/backward detail of any update is recomputed from its parameters on demand.
So a 100,000-epoch run or a 784-128-10 MLP stays within a memory budget, and
stepping backward "undoes" an update by moving an index.

Conventions:

* Perceptron: ``predict`` is ``step(z)`` (0/1 labels) or ``sign(z)`` (±1 labels). With
  ``update: error`` (default) ``p += η·(y − ŷ)·∂z/∂p``; for ``z = w @ x + b`` that is the
  lecture's ``w += η(y − ŷ)x`` and ``b += η(y − ŷ)``. With ``update: label`` (Rosenblatt,
  CIML) ``p += η·y·∂z/∂p`` when y·z ≤ 0 (a score of 0 is a mistake). An *update* is one
  example; it may change nothing. Training stops after the first epoch without a mistake,
  or when the parameters at the end of an epoch equal those at the end of an
  earlier epoch (a cycle — it can never converge), or after ``epochs``.
* Gradient descent: ``p −= η · mean gradient`` of ``loss`` over the batch (one
  vectorized run per batch). ``batch: full`` (default) or N (1 = SGD); without ``data``
  one update per epoch on a function of the parameters. ``weight_decay: λ`` and
  ``momentum: μ`` as PyTorch's SGD (:func:`_sgd`); the velocity is part of each snapshot
  (key :func:`velocity_key`), so checkpoints and replay carry it.
* Arithmetic: the perceptron computes exactly on the decimals as written
  (η = 0.1, w = 0.3 land on exactly 0 like a student's hand computation) whenever
  the graph is rational; gradient descent uses float64 unless
  ``options.arithmetic: exact`` is asked for (exact denominators grow every step).
"""

from __future__ import annotations

import math
from _thread import RLock  # what threading.RLock() makes, without threading's 0.5 ms import
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, NamedTuple
from weakref import WeakMethod

import numpy as np

from nnlab.engine.graph import Graph, build_graph
from nnlab.engine.ops.base import grad_label, num
from nnlab.engine.run import Run, choose_arithmetic, gradients, leaf_array, run_graph, to_float
from nnlab.engine.trace import BACKWARD, FORWARD, UPDATE, Explanation, Step, Use
from nnlab.errors import NnlabError, did_you_mean
from nnlab.numfmt import as_float, fmt, fmt_index
from nnlab.scenario.model import Scenario

TRAIN_KEYS = ("rule", "predict", "target", "lr", "epochs", "order", "seed", "loss", "batch", "momentum",
              "weight_decay", "update")
RULES = ("perceptron", "gd")
PREDICT_OPS = ("step", "sign")
"""The ops a perceptron's ``predict`` may be: step (0/1 labels) or sign (±1 labels)."""
UPDATE_FORMS = ("error", "label")
"""The perceptron's update forms: ``error`` p += η(y − ŷ)∂z/∂p; ``label`` p += η·y·∂z/∂p on y·z ≤ 0."""


class TrainConfig(NamedTuple):  # (a NamedTuple: a dataclass costs nnlab check ~0.7 ms to make)
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
    momentum: Any = 0  # gd: μ (PyTorch SGD: v ← μ·v + g, p ← p − η·v)
    weight_decay: Any = 0  # gd: λ (PyTorch SGD: g ← g + λ·p)
    update: str = "error"  # perceptron: "error" or "label" (see UPDATE_FORMS)


def velocity_key(param: str) -> str:
    """The snapshot key of a parameter's velocity (momentum buffer): ``velocity(w)``."""
    return f"velocity({param})"


class UpdateRecord(NamedTuple):
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


class Records(Sequence):
    """Every update's :class:`UpdateRecord`, stored by column.

    As objects, records would weigh about 150 bytes an update (11 MB for 100,000
    XOR epochs); by column they take about 35. ``records[i]`` makes the record of
    update ``i + 1``; a slice makes a list. The example tuples are kept as given
    (training shares one tuple per example or batch when the order repeats).
    """

    def __init__(self) -> None:
        self._epoch = array("q")
        self._examples: list[tuple[int, ...]] = []
        self._changed = bytearray()
        self._error: list[Any] = []
        self._loss = array("d")
        self._has_loss = bytearray()

    def append(self, rec: UpdateRecord) -> None:
        """Add the record of the next update (its ``number`` must be ``len(self) + 1``)."""
        if rec.number != len(self) + 1:
            raise ValueError(f"update {rec.number} recorded after {len(self)}")
        self.add(rec.epoch, rec.examples, rec.changed, rec.error, rec.loss)

    def add(self, epoch: int, examples: tuple[int, ...], changed: bool, error: Any = None,
            loss: float | None = None) -> None:
        """Add the next update's record from its fields (no :class:`UpdateRecord` made)."""
        self._epoch.append(epoch)
        self._examples.append(examples)
        self._changed.append(bool(changed))
        self._error.append(error)
        if loss is None:
            self._loss.append(0.0)
            self._has_loss.append(False)
        else:
            self._loss.append(loss)
            self._has_loss.append(True)

    def changed_count(self) -> int:
        """How many updates changed something."""
        return self._changed.count(1)

    def last_changed_epoch(self) -> int | None:
        """The epoch of the last update that changed something."""
        i = self._changed.rfind(1)
        return self._epoch[i] if i >= 0 else None

    def __len__(self) -> int:
        return len(self._epoch)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return UpdateRecord(self._epoch[i], i + 1, self._examples[i], bool(self._changed[i]), self._error[i],
                            self._loss[i] if self._has_loss[i] else None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Records, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class Snapshots(Sequence):
    """The parameters after every update, kept as checkpoints every ``interval`` updates.

    ``snapshots[u]`` is the parameters after ``u`` updates (``[0]`` = start), a dict of
    batch-first arrays, like a list of every update's parameters. Only every
    ``interval``-th is stored: small parameters as one row of a block of checkpoints
    (about :attr:`BLOCK_BYTES` each, 8 bytes a value instead of an array object per
    parameter), parameters of half a block or more as the arrays training made (no
    copy; training never writes into an array once it is a parameter). Any other is
    recomputed from the checkpoint before it by replaying the recorded updates with
    training's own arithmetic, so the values are bitwise those training had. Replaying costs at most ``interval − 1`` updates; the replayed segments (the
    last :attr:`SEGMENTS` of them) are cached, so stepping forward or back within one
    costs nothing and stepping on from its end costs one update.

    Attributes:
        interval: Updates between checkpoints (1 = every update kept).
        replay: A weak reference to ``(params, number) → params after update number`` (the
            training's own method; weak, so the training and its snapshots make no reference
            cycle and are freed as soon as the training is dropped); set by :func:`train`.
            Read snapshots through their training: without it, an update between checkpoints
            cannot be replayed (RuntimeError).
    """

    SEGMENTS = 2
    BLOCK_BYTES = 1 << 20

    def __init__(self, start: dict[str, np.ndarray], interval: int = 1, updates: int | None = None) -> None:
        """Keep ``start`` as the first checkpoint.

        Args:
            start: The parameters before any update.
            interval: Updates between checkpoints.
            updates: The most updates the training can make (None: not known); a block holds no more
                checkpoints than that many updates leave (an exact training's block of Fractions is
                filled with None when made: 1 MiB of them cost ~0.15 ms to make and as much to free).
        """
        self.interval = max(1, int(interval))
        self.replay: Any = None
        self._layout = [(name, np.asarray(a).shape, np.asarray(a).size) for name, a in start.items()]
        ends = np.cumsum([0] + [size for _, _, size in self._layout]).tolist()
        self._spans = [(name, ends[i], ends[i + 1], shape) for i, (name, shape, _) in enumerate(self._layout)]
        self._names = tuple(start)
        dtypes = {np.asarray(a).dtype for a in start.values()}
        self._dtype = dtypes.pop() if len(dtypes) == 1 else None  # None: mixed, each checkpoint a dict
        self._width = sum(size for _, _, size in self._layout)
        self._rows = self.BLOCK_BYTES // max(1, 8 * self._width) if self._dtype is not None else 0
        if updates is not None and self._rows > 1:  # (still > 1: rows, not arrays, keep the checkpoints)
            self._rows = min(self._rows, max(2, updates // self.interval + 1))
        self._blocks: list[np.ndarray] = []
        self._odd: dict[int, dict[str, np.ndarray]] = {}
        self._stored = 0
        self._segments: OrderedDict[int, list[dict[str, np.ndarray]]] = OrderedDict()
        self._lock = RLock()
        self._count = 0
        self._last = start
        self._last_line: np.ndarray | None = None  # the row the latest parameters are views of (append_flat)
        self.append(start)

    def append(self, params: dict[str, np.ndarray]) -> np.ndarray | None:
        """Add the parameters after the next update (stored if a checkpoint falls on it).

        Returns:
            The checkpoint's row when one is stored in a block: every parameter's values,
            flattened and concatenated (training checks them for nan/inf there); else None.
        """
        count = self._count
        self._count = count + 1
        self._last, self._last_line = params, None
        if count % self.interval:
            return None
        line = None
        dtype = self._dtype
        if self._rows > 1 and all(getattr(params[name], "dtype", None) == dtype for name in self._names):
            block, row = divmod(self._stored, self._rows)
            while len(self._blocks) <= block:
                self._blocks.append(np.empty((self._rows, self._width), dtype))
            line = self._blocks[block][row]
            np.concatenate([params[name] for name in self._names], axis=None, out=line)
        else:  # large parameters (or dtypes that differ from the start's): the arrays themselves
            self._odd[self._stored] = dict(params)
        self._stored += 1
        return line

    def slot(self) -> np.ndarray | None:
        """Where the next update's parameters may be written flat (in :attr:`_names` order): the row of
        its checkpoint if one falls on it, else a new array; None if checkpoints are not kept in rows.
        Hand the filled row to :meth:`append_flat`."""
        if self._rows <= 1:
            return None
        if self._count % self.interval:
            return np.empty(self._width, self._dtype)
        block, row = divmod(self._stored, self._rows)
        while len(self._blocks) <= block:
            self._blocks.append(np.empty((self._rows, self._width), self._dtype))
        return self._blocks[block][row]

    def append_flat(self, line: np.ndarray) -> dict[str, np.ndarray]:
        """Add the parameters written into ``line`` (from :meth:`slot`); they are returned as views of it."""
        params = {name: line[start:stop].reshape(shape) for name, start, stop, shape in self._spans}
        if not self._count % self.interval:
            self._stored += 1
        self._count += 1
        self._last, self._last_line = params, line
        return params

    @property
    def checkpoints(self) -> int:
        """How many checkpoints are stored."""
        return self._stored

    def forget(self) -> None:
        """Drop the cached replayed segments (the checkpoints stay)."""
        self._segments.clear()

    def _restore(self, c: int) -> dict[str, np.ndarray]:
        """Fresh arrays holding checkpoint ``c`` (the parameters after ``c · interval`` updates)."""
        if c in self._odd:
            return dict(self._odd[c])
        block, row = divmod(c, self._rows)
        line = self._blocks[block][row]
        out, offset = {}, 0
        for name, shape, size in self._layout:
            out[name] = line[offset:offset + size].reshape(shape).copy()
            offset += size
        return out

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, u):  # type: ignore[override]
        if isinstance(u, slice):
            return [self[i] for i in range(*u.indices(len(self)))]
        u = int(u)
        if u < 0:
            u += self._count
        if not 0 <= u < self._count:
            raise IndexError(u)
        if u == self._count - 1:
            return self._last
        c = u - u % self.interval
        with self._lock:  # the lab explains ahead in a thread: a segment is extended by one at a time
            seg = self._segments.get(c)
            if seg is None:
                seg = self._segments[c] = [self._restore(c // self.interval)]
                while len(self._segments) > self.SEGMENTS:
                    self._segments.popitem(last=False)
            else:
                self._segments.move_to_end(c)
            while len(seg) <= u - c:
                replay = self.replay()
                if replay is None:
                    raise RuntimeError("these snapshots' training is gone: keep the Training that train() "
                                       "returned while reading its snapshots (they are replayed through it)")
                seg.append(replay(seg[-1], c + len(seg)))
            return seg[u - c]


class Training:
    """The result of training: snapshots, records and the summary facts.

    Attributes:
        snapshots: ``[0]`` = start, ``[u]`` = after update u (batch-first arrays).
        records: ``[u - 1]`` = update u.
        epoch_end: The update count at the end of each epoch (``[0]`` = 0).
        mistakes: Perceptron: the mistakes of each epoch.
        wrt: The nodes that need a gradient during training.
    """

    def __init__(self, scenario: Scenario, graph: Graph, config: TrainConfig, params: list[str], arithmetic: str,
                 snapshots: Snapshots, records: Records, epoch_end: array) -> None:
        self.scenario, self.graph, self.config = scenario, graph, config
        self.params, self.arithmetic = params, arithmetic
        self.snapshots, self.records, self.epoch_end = snapshots, records, epoch_end
        self.mistakes: list[int] = []
        self.converged = False
        self.cycle_start: int | None = None
        self.cycle_length: int | None = None
        self.wrt: frozenset[str] | None = None
        self.flat_updates = False  # gd writes each update into its snapshot row (_gd_update_flat)
        self._cache: OrderedDict = OrderedDict()  # (snapshot, examples, target, record) → Run
        self._data: dict = {}  # data leaves, converted once
        self._batches: dict = {}  # examples → their data leaves (views of _data)

    # ---------------------------------------------------------------- facts
    @property
    def epochs(self) -> int:
        """Epochs run."""
        return len(self.epoch_end) - 1

    @property
    def updates(self) -> int:
        """Updates that changed something."""
        return self.records.changed_count()

    @property
    def first_clean_epoch(self) -> int | None:
        """First epoch without a mistake (perceptron)."""
        return next((i + 1 for i, m in enumerate(self.mistakes) if m == 0), None)

    @property
    def last_update_epoch(self) -> int:
        """The last epoch in which an update changed something; 0 if none did (the parameters of ``epoch(0)``)."""
        return self.records.last_changed_epoch() or 0

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
        return self._leaves(self.snapshots[snapshot], examples)

    def _leaves(self, params: dict[str, np.ndarray], examples: tuple[int, ...] | None) -> dict[str, np.ndarray]:
        data = self._batches.get(examples)
        if data is None:
            data = self._data_leaves(examples)
            if sum(a.nbytes for a in data.values() if a.base is None) <= 1 << 16:  # views, or small copies
                if len(self._batches) >= 64:  # (shuffled batches differ every epoch: keep the last few)
                    self._batches.clear()
                self._batches[examples] = data
        leaves = dict(params)
        leaves.update(data)
        return leaves

    def _data_leaves(self, examples: tuple[int, ...] | None) -> dict[str, np.ndarray]:
        """The data leaves on some (or all) examples."""
        leaves = {}
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

    def _flat(self, params: dict[str, np.ndarray]) -> np.ndarray:
        """``params`` flattened in snapshot order: the row :meth:`Snapshots.append_flat` made them
        from when they are the latest snapshot, else a concatenation."""
        snaps = self.snapshots
        if params is snaps._last and snaps._last_line is not None:
            return snaps._last_line
        return np.concatenate([params[p] for p in self.params], axis=None)

    def _rate(self) -> Any:
        """η as the arithmetic uses it: a Fraction in exact mode, else a float."""
        return self.config.lr if self.arithmetic == "exact" else float(self.config.lr)

    def coefficient(self, name: str) -> Any:
        """``momentum`` or ``weight_decay`` as the arithmetic uses it (a Fraction in exact mode, else a float)."""
        value = getattr(self.config, name)
        return value if self.arithmetic == "exact" else float(value)

    def velocity(self, snapshot: int) -> dict[str, np.ndarray]:
        """The velocity (momentum buffer) of each parameter after ``snapshot`` updates; empty without momentum."""
        state = self.snapshots[snapshot]
        return {p: state[velocity_key(p)] for p in self.params if velocity_key(p) in state}

    def _replay(self, params: dict[str, np.ndarray], number: int) -> dict[str, np.ndarray]:
        """The parameters after update ``number`` from those before it, computed as training computed them."""
        rec = self.records[number - 1]
        if self.config.rule == "perceptron":
            if not rec.changed:
                return dict(params)
            return _perceptron_update(self, params, rec.examples, self._rate())[0]
        return _gd_update(self, params, rec.examples, self._rate())[0]

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
    if not s.data and rule == "perceptron":
        raise NnlabError("the perceptron rule needs data: (one row per example)", loc("rule"), kind="format")
    if not s.data and "batch" in t:
        raise NnlabError("train.batch needs data: (without data, each epoch is one update of the whole function)",
                         loc("batch"), kind="format")
    if not s.learn:
        raise NnlabError("training needs learn: (the parameters to update)", loc("rule"), kind="format")
    lr_node = node.value.get("lr") if node is not None else None
    if lr_node is None or isinstance(lr_node.value, bool) or not isinstance(lr_node.value, (int, float)):
        raise NnlabError("train.lr must be a number (the learning rate η)", vloc("lr") if lr_node else loc("rule"),
                         kind="format")
    if not math.isfinite(as_float(lr_node.value)) or lr_node.value <= 0:
        raise NnlabError(f"train.lr must be a positive finite number, got {lr_node.raw}", vloc("lr"),
                         "a learning rate such as 0.1", kind="format")
    lr = _exact_number(lr_node)
    momentum, weight_decay = (_coefficient(node, key, vloc(key)) for key in ("momentum", "weight_decay"))
    if momentum >= 1:  # v would keep every past gradient at full weight (or grow it): the steps never shrink
        raise NnlabError(f"train.momentum must be below 1, got {node.value['momentum'].raw}", vloc("momentum"),
                         "momentum μ is in [0, 1), e.g. momentum: 0.9; with μ ≥ 1 the velocity never decays "
                         "and training cannot settle.", kind="format")
    for key, value in (("momentum", momentum), ("weight_decay", weight_decay)):
        if value and rule != "gd":
            raise NnlabError(f"train.{key} belongs to rule: gd", loc(key),
                             "the perceptron rule has no momentum or weight decay.", kind="format")
    update = t.get("update", "error")
    if update not in UPDATE_FORMS:
        raise NnlabError(f"train.update must be 'error' or 'label', got {update!r}", vloc("update"),
                         "error: p += η·(y − ŷ)·∂z/∂p; label: p += η·y·∂z/∂p on a mistake (y·z ≤ 0).",
                         kind="format")
    if "update" in t and rule != "perceptron":
        raise NnlabError("train.update belongs to rule: perceptron", loc("update"), kind="format")
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
    n = len(next(iter(s.data.values())).array) if s.data else 1
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
        if not isinstance(name, str):  # e.g. loss: [x]
            raise NnlabError(f"train.{key} must name one node, e.g. {key}: yhat", vloc(key), kind="format")
        if name not in graph.nodes:
            raise NnlabError(f"train.{key} names '{name}', which is not a node", vloc(key),
                             did_you_mean(str(name), graph.names()), kind="name")
        return name

    predict, target, loss, z = node_name("predict"), node_name("target"), node_name("loss"), None
    if rule == "perceptron":
        if predict is None or target is None:
            raise NnlabError("the perceptron rule needs predict: (the step output) and target: (the label)",
                             loc("rule"), kind="format")
        pnode = graph.nodes[predict]
        if pnode.kind != "op" or pnode.op.name not in PREDICT_OPS:
            raise NnlabError(f"train.predict must be a step(…) or sign(…) node, but '{predict}' is not",
                             vloc("predict"), "the perceptron rule updates with η(y − ŷ)·∂z/∂p where ŷ = step(z) "
                             "(0/1 labels) or ŷ = sign(z) (±1 labels).", kind="format")
        z = pnode.inputs[0]
    else:
        if loss is None:
            raise NnlabError("gradient descent needs loss: (the node to minimize)", loc("rule"), kind="format")
    return TrainConfig(rule, lr, epochs, order, seed, batch, predict, target, loss, z, momentum, weight_decay,
                       update)


def _exact_number(node: Any) -> Fraction:
    """A number from the file as the exact decimal written (``0.1`` → 1/10)."""
    return Fraction(node.raw) if isinstance(node.value, float) else Fraction(node.value)


def _coefficient(train_node: Any, key: str, where: Any) -> Fraction:
    """``train.momentum`` / ``train.weight_decay``: a number ≥ 0 (0 when absent), kept exact."""
    node = train_node.value.get(key) if train_node is not None else None
    if node is None:
        return Fraction(0)
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        shown = node.raw if node.raw is not None else node.to_py()  # a list or mapping has no raw text
        raise NnlabError(f"train.{key} must be a number ≥ 0, got {shown!r}", where,
                         "e.g. momentum: 0.9, weight_decay: 0.0001", kind="format")
    return _exact_number(node)


def _param_names(s: Scenario) -> list[str]:
    out = []
    for n in s.learn:
        out.extend([n] if n in s.values else [v for v in s.values if v.startswith(n + ".")])
    return out


# ---------------------------------------------------------------------- training


CHECKPOINT_BUDGET = 128 * 2**20
"""Bytes the parameter checkpoints of one training may take (128 MiB).

The checkpoint interval ``k`` is the smallest that keeps
``(most updates the training can make + 1) / k`` checkpoints of
:func:`checkpoint_bytes` each within this budget, so small networks keep every
update (``k = 1``: 100,000 XOR epochs keep 7 MB of checkpoints) and large ones replay at most
``k − 1`` updates to show any parameters (a 784-128-10 MLP, 50 epochs of 16
updates: ``k = 5``)."""


def checkpoint_bytes(params: dict[str, np.ndarray]) -> int:
    """What one checkpoint of ``params`` costs at most: 8 bytes a value, plus 128 for the array headers.

    Exact (Fraction) values count 100 bytes more per element for the objects they point to.
    """
    size = sum(np.asarray(a).size for a in params.values())
    exact = any(np.asarray(a).dtype == object for a in params.values())
    return 8 * size + (100 * size if exact else 0) + 128


def checkpoint_interval(params: dict[str, np.ndarray], updates: int, budget: int = CHECKPOINT_BUDGET) -> int:
    """The interval ``k`` for a training that makes at most ``updates`` updates (see :data:`CHECKPOINT_BUDGET`)."""
    return max(1, math.ceil((updates + 1) * checkpoint_bytes(params) / budget))


def train(scenario: Scenario, *, checkpoint_every: int | None = None) -> Training:
    """Train a scenario with a ``train:`` block.

    Args:
        scenario: The loaded scenario.
        checkpoint_every: Keep the parameters every this many updates (default: from
            :data:`CHECKPOINT_BUDGET`); 1 keeps every update's, as tests compare.

    Raises:
        NnlabError: For an invalid ``train:`` block, or NaN/inf during training.
    """
    tr, n = _setup(scenario, checkpoint_every)
    with np.errstate(all="ignore"):  # once for every update (nan/inf are found by the explicit checks)
        _epochs(tr, n)
    return tr


def _epochs(tr: Training, n: int) -> None:
    """The epochs of :func:`train` on its ``n`` examples, inside its ``np.errstate``."""
    cfg = tr.config
    current = tr.snapshots[0]
    lr = tr._rate()
    rng = np.random.default_rng(cfg.seed) if cfg.order == "shuffle" else None  # numpy.random costs ~8 ms to import
    history = {hash(_key(current)): [0]} if cfg.rule == "perceptron" else {}
    examples = [(i,) for i in range(n)]  # one tuple per example, shared by the records
    batches: list[tuple[int, ...]] | None = None
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(n) if cfg.order == "shuffle" else np.arange(n)
        if cfg.rule == "perceptron":
            current, wrong = _perceptron_epoch(tr, current, [examples[i] for i in order], epoch, lr)
            tr.mistakes.append(wrong)
        else:
            if batches is None or cfg.order == "shuffle":  # sequential: the same batches every epoch
                size = n if cfg.batch is None else cfg.batch
                batches = [tuple(order[s:s + size].tolist()) for s in range(0, n, size)]
            current = _gd_epoch(tr, current, batches, epoch, lr)
        tr.epoch_end.append(len(tr.records))
        if cfg.rule == "perceptron":
            if wrong == 0:
                tr.converged = True
                break
            key = _key(current)
            same = [e for e in history.get(hash(key), ()) if _key(tr.snapshots[tr.epoch_end[e]]) == key]
            if same:
                tr.cycle_start = same[0]
                tr.cycle_length = epoch - same[0]
                break
            history.setdefault(hash(key), []).append(epoch)


def _setup(scenario: Scenario, checkpoint_every: int | None) -> tuple[Training, int]:
    """A training that has made no update yet (its snapshots hold the start), and the number of examples."""
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
    if cfg.momentum:  # the velocity is part of the state: checkpointed and replayed with the parameters
        start.update({velocity_key(p): start[p] * 0 for p in params})
    n = len(next(iter(scenario.data.values())).array) if scenario.data else 1  # no data: one "example"
    per_epoch = n if cfg.rule == "perceptron" else 1 if cfg.batch is None else -(-n // cfg.batch)
    bound = cfg.epochs * per_epoch
    from nnlab.limits import DEFAULT_MAX_UPDATES  # the limit is the scenario's (options.max_updates)

    most = scenario.options.get("max_updates", DEFAULT_MAX_UPDATES)
    if bound > most:
        raise NnlabError(f"training would make up to {bound:,} updates ({cfg.epochs:,} epochs of {per_epoch:,}), "
                         f"over the limit of {most:,}", scenario.loc_of("train", "epochs"),
                         "raise it with options.max_updates.", kind="size")
    snapshots = Snapshots(start, checkpoint_every or checkpoint_interval(start, bound), bound)
    tr = Training(scenario, graph, cfg, params, arithmetic, snapshots, Records(), array("q", [0]))
    snapshots.replay = WeakMethod(tr._replay)  # weak: no cycle, so a training is freed as soon as it is dropped
    tr.wrt = _requires(graph, params)
    tr.flat_updates = (arithmetic == "float64" and not cfg.momentum and not cfg.weight_decay
                       and snapshots._names == tuple(params))
    return tr, n


# ------------------------------------------------------------- saved trainings


def training_state(tr: Training) -> dict[str, np.ndarray] | None:
    """What a finished gradient-descent training is, as a few flat arrays (None: it cannot be put so).

    Everything else (graph, config, the start) follows from the scenario; :func:`restore_training`
    puts the two back together. Only float64 trainings whose checkpoints are all rows of blocks
    qualify (the perceptron's exact values and very large parameters do not).
    """
    snaps, recs = tr.snapshots, tr.records
    if (tr.config.rule != "gd" or tr.arithmetic != "float64" or snaps._odd or snaps._dtype != np.float64
            or snaps._rows <= 1 or any(e is not None for e in recs._error)):
        return None
    rows = snaps._rows
    stored = [snaps._blocks[c // rows][c % rows] for c in range(snaps.checkpoints)]
    last = np.concatenate([np.asarray(snaps._last[name], np.float64) for name in snaps._names], axis=None)
    examples = recs._examples
    return {"interval": np.array([snaps.interval, len(snaps)], np.int64),
            "checkpoints": np.array(stored, np.float64).reshape(len(stored), snaps._width),
            "last": last,
            "epoch": np.array(recs._epoch, np.int64),
            "batch_sizes": np.array([len(e) for e in examples], np.int64),
            "batch_examples": np.fromiter((i for e in examples for i in e), np.int64),
            "changed": np.frombuffer(bytes(recs._changed), np.uint8),
            "loss": np.array(recs._loss, np.float64),
            "has_loss": np.frombuffer(bytes(recs._has_loss), np.uint8),
            "epoch_end": np.array(tr.epoch_end, np.int64)}


def restore_training(scenario: Scenario, state: dict[str, np.ndarray]) -> Training:
    """The training :func:`training_state` saved, for the same scenario (its values bitwise those training made).

    Raises:
        ValueError: If ``state`` does not fit the scenario's parameters.
    """
    interval, count = (int(v) for v in state["interval"])
    if interval < 1 or count < 1:
        raise ValueError("the saved training has no updates")
    tr, _ = _setup(scenario, interval)
    snaps, recs = tr.snapshots, tr.records
    checkpoints = state["checkpoints"]
    if (tr.config.rule != "gd" or snaps._rows <= 1 or checkpoints.ndim != 2 or checkpoints.shape[1] != snaps._width
            or state["last"].shape != (snaps._width,) or len(checkpoints) != -(-count // interval)):
        raise ValueError("the saved training does not fit this scenario")
    snaps._blocks = [checkpoints[s:s + snaps._rows] for s in range(0, len(checkpoints), snaps._rows)]
    snaps._stored, snaps._count = len(checkpoints), count
    last, offset = {}, 0
    for name, shape, size in snaps._layout:
        last[name] = state["last"][offset:offset + size].reshape(shape)
        offset += size
    snaps._last = last
    shared: dict[tuple[int, ...], tuple[int, ...]] = {}
    flat = state["batch_examples"].tolist()
    start = 0
    for size in state["batch_sizes"].tolist():
        batch = tuple(flat[start:start + size])
        recs._examples.append(shared.setdefault(batch, batch))
        start += size
    recs._epoch = array("q", state["epoch"].tolist())
    recs._changed = bytearray(state["changed"].tobytes())
    recs._error = [None] * len(recs._epoch)
    recs._loss = array("d", state["loss"].tolist())
    recs._has_loss = bytearray(state["has_loss"].tobytes())
    tr.epoch_end = array("q", state["epoch_end"].tolist())
    if not (len(recs._examples) == len(recs._changed) == len(recs._loss) == count - 1 == tr.epoch_end[-1]):
        raise ValueError("the saved training is incomplete")
    return tr


def _requires(graph: Graph, params: list[str]) -> frozenset[str]:
    """The parameters and every node computed from them: what needs a gradient during training."""
    out = set(params)
    for nid in graph.order:
        if any(i in out for i in graph.nodes[nid].inputs):
            out.add(nid)
    return frozenset(out)


def _key(snapshot: dict[str, np.ndarray]) -> tuple:
    """The parameters as exact Python values (epoch ends are compared by this, via its hash)."""
    return tuple((k, tuple(np.asarray(v).reshape(-1).tolist())) for k, v in sorted(snapshot.items()))


def _perceptron_epoch(tr: Training, params: dict[str, Any], order: list[tuple[int]], epoch: int,
                      lr: Any) -> tuple[dict[str, Any], int]:
    wrong = 0
    for example in order:
        new, err, changed = _perceptron_update(tr, params, example, lr)
        wrong += changed
        tr.snapshots.append(new)
        tr.records.append(UpdateRecord(epoch, len(tr.records) + 1, example, changed, err))
        params = new
    return params, wrong


def apply_update(tr: Training, params: dict[str, Any], examples: tuple[int, ...], *, graph: Graph | None = None,
                 direction: int = 1) -> dict[str, Any]:
    """One update of ``tr``'s rule (perceptron form, momentum, weight decay) on ``examples``, from ``params``
    (a snapshot: the parameters and, with momentum, their velocities).

    Args:
        graph: The graph to run (default: the training's own); the diagnosis replays changed copies.
        direction: −1 steps the other way (the diagnosis's sign-flipped update).
    """
    graph = graph or tr.graph
    lr = tr._rate() * direction
    if tr.config.rule == "perceptron":
        return _perceptron_update(tr, params, examples, lr, graph)[0]
    return _gd_update(tr, params, examples, lr, graph)[0]


def _perceptron_update(tr: Training, params: dict[str, Any], example: tuple[int], lr: Any,
                       graph: Graph | None = None) -> tuple[dict, Any, bool]:
    """One perceptron update on one example: the new parameters, y − ŷ, and whether anything changed."""
    cfg = tr.config
    graph = graph or tr.graph
    run = run_graph(graph, tr._leaves(params, example), target=cfg.z, record=False, arithmetic=tr.arithmetic,
                    wrt=tr.wrt if graph is tr.graph else None)
    yhat = run.values[cfg.predict].reshape(-1)[0]
    y = run.values[cfg.target].reshape(-1)[0]
    if cfg.update == "label":  # Rosenblatt / CIML: a mistake is y·z ≤ 0, then p += η·y·∂z/∂p
        if y not in (1, -1):
            raise NnlabError(f"update: label needs targets of +1 or −1, but example {example[0]} has "
                             f"{cfg.target} = {fmt(y)}", tr.scenario.loc_of("train", "update"),
                             "use ±1 labels, or update: error for 0/1 labels.", kind="value")
        z = run.values[cfg.z].reshape(-1)[0]
        err = y if y * z <= 0 else y * 0
    else:
        err = y - yhat
    new = dict(params)
    changed = bool(err != 0)
    if changed:
        for p in tr.params:
            dz = run.grads.get(p)
            if dz is None:
                continue
            new[p] = params[p] + lr * err * dz
    return new, err, changed


def _gd_epoch(tr: Training, params: dict[str, Any], batches: list[tuple[int, ...]], epoch: int,
              lr: Any) -> dict[str, Any]:
    cfg = tr.config
    snapshots, records = tr.snapshots, tr.records
    last = len(batches) - 1  # parameters are checked once per epoch, the loss every update
    flat = tr.flat_updates
    for j, batch in enumerate(batches):
        line = snapshots.slot() if flat else None
        if line is not None:
            new, loss = _gd_update_flat(tr, params, batch, lr, line)
        else:
            new, loss = _gd_update(tr, params, batch, lr)
            line = snapshots.append(new)
        if not math.isfinite(loss) or (j == last and not _finite_params(new, line, errors_ignored=True)):
            # find the first op where it happens, with the full checks on
            run_graph(tr.graph, tr._leaves(params, batch), target=cfg.loss, record=False,
                      arithmetic=tr.arithmetic, wrt=tr.wrt)
            raise NnlabError(f"the parameters become nan/inf at update {len(tr.records) + 1} (epoch {epoch}); "
                             "the learning rate may be too large", tr.scenario.loc_of("train", "lr"), kind="nan")
        records.add(epoch, batch, True, loss=loss)
        params = new
    return params


QUICK_CHECK = 8192
"""Up to this many parameter values, one dot product of them all checks them for nan/inf first."""


def _finite_params(params: dict[str, Any], line: np.ndarray | None = None, errors_ignored: bool = False) -> bool:
    """True unless some parameter's sum is nan/inf (the per-epoch check of gradient descent).

    Given ``line`` (the values flattened, as the snapshot stored them), first one sum of
    squares of them all: if it is finite, every |value| is below 1.4e154 and no sum of them
    can overflow, so the answer is yes without a call per parameter.
    """
    if line is not None and line.dtype == np.float64 and line.size <= QUICK_CHECK:
        if errors_ignored:  # (training's own np.errstate: an overflow only sends us to the full check)
            if math.isfinite(np.dot(line, line)):
                return True
        else:
            with np.errstate(all="ignore"):
                if math.isfinite(np.dot(line, line)):
                    return True
    return all(np.isfinite(np.sum(to_float(v))) for v in params.values())


def _gd_update(tr: Training, params: dict[str, Any], batch: tuple[int, ...], lr: Any,
               graph: Graph | None = None) -> tuple[dict, float]:
    """One gradient-descent update on one batch: the new parameters and the batch's mean loss before it.

    In float64 the forward and backward are :func:`~nnlab.engine.run.gradients` (no trace, the
    arithmetic of :func:`run_graph`); an op that fails there is run again by :func:`run_graph`,
    which names the step.
    """
    cfg = tr.config
    graph = graph or tr.graph
    leaves = tr._leaves(params, batch)
    wrt = tr.wrt if graph is tr.graph else None
    values = None
    if tr.arithmetic == "float64":
        try:
            values, grads = gradients(graph, leaves, cfg.loss, wrt)
        except Exception:  # noqa: BLE001 - run_graph below raises it with its location
            values = None
    if values is None:
        run = run_graph(graph, leaves, target=cfg.loss, record=False, arithmetic=tr.arithmetic, wrt=wrt,
                        check_finite=False)
        values, grads = run.values, run.grads
        del run
    loss = _mean(values[cfg.loss])
    grads = {p: grads.get(p) for p in tr.params}
    del values
    if cfg.momentum or cfg.weight_decay:
        return _sgd(tr, params, grads, lr), loss
    return _descend(params, grads, lr, keep=leaves.values()), loss  # (it may reuse the gradients' memory)


def _gd_update_flat(tr: Training, params: dict[str, Any], batch: tuple[int, ...], lr: float,
                    line: np.ndarray) -> tuple[dict, float]:
    """:func:`_gd_update` that writes the new parameters straight into ``line`` (their snapshot row):
    the gradients concatenated, times −η, plus the parameters; the same two roundings per value as
    ``p − η·∂L/∂p`` in :func:`_descend`, so the same bits, in three NumPy calls instead of two per
    parameter. Falls back to :func:`_gd_update` when a parameter has no gradient."""
    cfg, snaps = tr.config, tr.snapshots
    try:
        values, grads = gradients(tr.graph, tr._leaves(params, batch), cfg.loss, tr.wrt, errors_ignored=True)
        np.concatenate([grads[p] for p in tr.params], axis=None, out=line)  # (KeyError: no gradient)
    except Exception:  # noqa: BLE001 - _gd_update runs it again (run_graph names a failing step)
        new, loss = _gd_update(tr, params, batch, lr)
        np.concatenate([new[p] for p in tr.params], axis=None, out=line)
        return snaps.append_flat(line), loss
    line *= -lr
    line += snaps._last_line if params is snaps._last and snaps._last_line is not None else tr._flat(params)
    loss = values[cfg.loss]  # (a float64 array: _mean's first case, without its call)
    return snaps.append_flat(line), float(_add_reduce(loss, axis=None)) / loss.size


def _mean(a: Any) -> float:
    """``float(np.mean(a))`` (the same bits), for a float64 array without np.mean's wrappers."""
    if type(a) is np.ndarray and a.dtype == np.float64 and a.size:
        return float(_add_reduce(a, axis=None)) / a.size
    return float(np.mean(to_float(a)))


_add_reduce = np.add.reduce


def _sgd(tr: Training, params: dict[str, Any], grads: dict[str, Any], lr: Any) -> dict[str, Any]:
    """PyTorch's SGD with weight decay λ and momentum μ (dampening 0, not Nesterov), for every parameter:

    ``g ← ∂L/∂p + λ·p``, ``v ← μ·v + g`` (v starts at 0, so v₁ = g₁ as in PyTorch), ``p ← p − η·v``.
    Without momentum ``p ← p − η·g``. A parameter the loss does not depend on is left alone, as PyTorch
    skips a parameter without a gradient.
    """
    mu, decay = tr.coefficient("momentum"), tr.coefficient("weight_decay")
    new = dict(params)
    with np.errstate(all="ignore"):  # an overflow becomes inf, which the nan/inf check after the update names
        for p, g in grads.items():
            if g is None:
                continue
            if decay:
                g = g + decay * params[p]
            if mu:
                v = new[velocity_key(p)] = mu * params[velocity_key(p)] + g
                g = v
            new[p] = params[p] - lr * g
    return new


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
    if not any(g is not None and g.size >= REUSE_MIN for g in grads.values()):  # small: no memory to reuse
        new, step_by = {}, -lr
        for p, g in grads.items():
            if g is None:
                new[p] = params[p]
            else:
                new[p] = step = g * step_by
                step += params[p]
        return new
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
        return Step(k, UPDATE, p, update_rule(self.tr.config, p), "update", (p,), -1, node.shape,
                    epoch=rec.epoch, update=rec.number)

    def inner(self, step: Step) -> Step | None:
        """The step inside the update's own run that ``step`` stands for (None for update steps)."""
        off = step.index % self.group
        return self.template[off] if off < len(self.template) else None

    def first_of_epoch(self, epoch: int) -> int:
        """Index of the first step of ``epoch``."""
        return self.tr.epoch_end[epoch - 1] * self.group


def update_rule(cfg: TrainConfig, p: str) -> str:
    """The update of parameter ``p`` in symbols, as the update step's label shows it."""
    if cfg.rule == "perceptron":
        if cfg.update == "label":
            return f"{p} ← {p} + η·y·∂{cfg.z}/∂{p}  if y·{cfg.z} ≤ 0"
        return f"{p} ← {p} + η·(y − ŷ)·∂{cfg.z}/∂{p}"
    g = f"∂{cfg.loss}/∂{p}" + (f" + λ·{p}" if cfg.weight_decay else "")
    if cfg.momentum:
        v = velocity_key(p)
        return f"{p} ← {p} − η·{v}  with  {v} ← μ·{v} + {g}"
    return f"{p} ← {p} − η·({g})" if cfg.weight_decay else f"{p} ← {p} − η·{g}"


def explain_update(tr: Training, number: int, param: str, element: tuple[int, ...], digits: int = 4) -> Explanation:
    """The arithmetic of one parameter element in update ``number``."""
    idx = tuple(element)
    at = (0,) + idx
    old = tr.snapshots[number - 1][param][at]
    new = tr.snapshots[number][param][at]
    cfg = tr.config
    lr = cfg.lr
    rec = tr.records[number - 1]
    lhs = f"{param}{fmt_index(idx)}"
    formula = update_rule(cfg, param)
    if cfg.rule == "perceptron":
        run = tr.run_at(number - 1, rec.examples, target=cfg.z, record=False)
        dz = run.grads.get(param)
        d = dz[at] if dz is not None else 0
        y = run.values[cfg.target].reshape(-1)[0]
        yhat = run.values[cfg.predict].reshape(-1)[0]
        if cfg.update == "label":
            z = run.values[cfg.z].reshape(-1)[0]
            arithmetic = f"{num(old, digits)} + {fmt(lr, digits)}·{fmt(y, digits)}·{num(d, digits)}"
            if rec.changed:
                note = f"y·{cfg.z} = {fmt(y, digits)}·{fmt(z, digits)} ≤ 0: mistake on example {rec.examples[0]}"
            else:
                note = f"y·{cfg.z} = {fmt(y, digits)}·{fmt(z, digits)} > 0: no change"
                arithmetic = f"{num(old, digits)}  (no update)"
        else:
            arithmetic = (f"{num(old, digits)} + {fmt(lr, digits)}·({fmt(y, digits)} − {fmt(yhat, digits)})·"
                          f"{num(d, digits)}")
            note = "ŷ = y: no change" if y == yhat else f"mistake on example {rec.examples[0]}: update"
    else:
        grad = tr.update_run(number).grads.get(param)
        g = grad[at] if grad is not None else 0
        term = num(g, digits)
        if cfg.weight_decay:
            term = f"({term} + {fmt(cfg.weight_decay, digits)}·{num(old, digits)})"
        if cfg.momentum:
            v_old = tr.snapshots[number - 1][velocity_key(param)][at]
            v_new = tr.snapshots[number][velocity_key(param)][at]
            arithmetic = (f"{velocity_key(param)}{fmt_index(idx)} = {fmt(cfg.momentum, digits)}·{num(v_old, digits)}"
                          f" + {term} = {num(v_new, digits)};  {num(old, digits)} − {fmt(lr, digits)}·"
                          f"{num(v_new, digits)}")
        else:
            arithmetic = f"{num(old, digits)} − {fmt(lr, digits)}·{term}"
        formula += "  (mean over the batch)" if tr.scenario.data else ""
        if tr.scenario.data:
            note = f"batch of {len(rec.examples)} example(s): {list(rec.examples)[:8]}" + (
                "…" if len(rec.examples) > 8 else "")
        else:
            note = f"epoch {rec.epoch}: one step on {cfg.loss}"
        settings = [f"{sym} = {fmt(getattr(cfg, key), digits)}" for sym, key in
                    (("μ", "momentum"), ("λ", "weight_decay")) if getattr(cfg, key)]
        if settings:
            note += "; " + ", ".join(settings)
    return Explanation(f"{lhs} (update {number}, epoch {rec.epoch})", formula, arithmetic, new,
                       (Use(0, idx),), note=note)


__all__ = ["Training", "Records", "Snapshots", "TrainSteps", "train", "apply_update", "explain_update", "FORWARD", "BACKWARD",
           "grad_label"]
