"""``nnlab practice``: exam-style exercises with fresh numbers, their keys and multiple-choice options.

An exercise is a scenario whose ``about:`` asks the question in words and whose
``expect:`` lists the asked references with the answer ``?`` (unanswered). Its key is
the same file with the answers filled in from nnlab's own run, so a key can never
disagree with ``nnlab check``. The same topic and seed always give the same file.

Multiple-choice distractors are the answers under misconceptions of the diagnosis
catalog (:func:`nnlab.diagnosis.alternative_answers`), so a student who picks one is
told by ``nnlab check`` exactly which mistake it encodes; where fewer than four
misconceptions apply, the rest are near misses that are never a second right answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from nnlab.errors import NnlabError
from nnlab.numfmt import fmt
from nnlab.practice.topics import TOPICS, Draft

UNANSWERED = "?"
MAX_DRAWS = 200
DIGITS = 4
LETTERS = "ABCDE"


@dataclass(frozen=True)
class Option:
    """One multiple-choice option.

    Attributes:
        letter: ``A`` … ``E``.
        text: The answer as written.
        misconception: The diagnosis id it encodes, ``None`` for the key, ``"near-miss"`` otherwise.
    """

    letter: str
    text: str
    misconception: str | None


@dataclass(frozen=True)
class Exercise:
    """A generated exercise and its key.

    Attributes:
        topic: The topic name.
        seed: The seed it was drawn with.
        draft: The scenario sections and the question.
        answers: ref → the key's answer as written (YAML text).
        options: Multiple-choice options for :attr:`mcq_ref` (empty unless asked for).
        draws: How many drafts were drawn before one was not degenerate.
    """

    topic: str
    seed: int
    draft: Draft
    answers: dict[str, str]
    options: tuple[Option, ...] = ()
    draws: int = 1

    @property
    def mcq_ref(self) -> str:
        """The reference the options answer."""
        return self.draft.mcq or self.draft.asked[0]

    def scenario(self, key: bool = False) -> str:
        """The exercise as scenario YAML: answers ``?``, or the key's answers with ``key``."""
        about = self.draft.question
        if self.options:
            about += f"\n\nChoose one for {self.mcq_ref}:\n\n" + "\n".join(f"- {o.letter}) {o.text}" for o in self.options)
            if key:
                about += "\n\nKey: " + "; ".join(
                    f"{o.letter} = " + ("right" if o.misconception is None else o.misconception) for o in self.options)
        answers = self.answers if key else {ref: _scalar(UNANSWERED) for ref in self.answers}
        header = (f"# nnlab practice {self.topic} --seed {self.seed}{' --key' if key else ''}"
                  f"{' --mcq' if self.options else ''}\n")
        return header + _scenario_text(self.draft, answers, about)


def generate(topic: str, seed: int, mcq: bool = False) -> Exercise:
    """Draw the exercise of ``topic`` for ``seed`` (deterministic), with its key.

    Raises:
        NnlabError: An unknown topic, or no good exercise in :data:`MAX_DRAWS` draws (a bug).
    """
    if topic not in TOPICS:
        from nnlab.errors import did_you_mean

        raise NnlabError(f"unknown practice topic {topic!r}",
                         hint=did_you_mean(topic, list(TOPICS)) or f"the topics are: {', '.join(TOPICS)}.")
    make = TOPICS[topic][0]
    rng = random.Random(f"{topic}:{seed}")
    for draw in range(1, MAX_DRAWS + 1):
        draft = make(rng)
        session = _session(_scenario_text(draft, {}, draft.question))
        if draft.degenerate(session):
            continue
        answers = {ref: _answer_text(session.evaluate(ref)) for ref in draft.asked}
        exercise = Exercise(topic, seed, draft, answers, draws=draw)
        if mcq:
            exercise = _with_options(exercise, rng)
        return exercise
    raise NnlabError(f"no usable {topic} exercise in {MAX_DRAWS} draws for seed {seed}")


def sheet(topic: str, count: int, seed: int) -> str:
    """A Markdown sheet of ``count`` exercises (seeds ``seed`` …) with the key at the end."""
    exercises = [generate(topic, seed + k) for k in range(count)]
    lines = [f"# Practice sheet: {topic}", "", f"{TOPICS[topic][1].capitalize()}. "
             f"Made by `nnlab practice {topic} --sheet {count} --seed {seed}`; each exercise k is also "
             f"`nnlab practice {topic} --seed {seed}+k` (a scenario file you can check with `nnlab check`).", ""]
    for k, ex in enumerate(exercises, start=1):
        lines += [f"## Exercise {k}", "", ex.draft.question, ""]
    lines += ["## Key", ""]
    for k, ex in enumerate(exercises, start=1):
        lines.append(f"{k}. " + "; ".join(f"`{ref}` = {text}" for ref, text in ex.answers.items()))
    return "\n".join(lines) + "\n"


# -- the scenario text ------------------------------------------------------------------------------

def _scalar(text: str) -> str:
    """A string as one YAML scalar (quoted where YAML needs it), made by PyYAML's emitter."""
    out = yaml.safe_dump(text, allow_unicode=True, width=1 << 30)
    return out.removesuffix("\n").removesuffix("\n...").strip()


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str):
        return _scalar(value)
    return repr(value) if isinstance(value, float) else str(value)


def _block(name: str, section: dict[str, Any]) -> list[str]:
    lines = [f"{name}:"]
    for key, value in section.items():
        if isinstance(value, dict) and "shape" not in value:  # a parameter group such as a GRU's P
            lines.append(f"  {key}:")
            lines += [f"    {k}: {_flow(v)}" for k, v in value.items()]
        else:
            lines.append(f"  {key}: {_flow(value)}")
    return lines


def _scenario_text(draft: Draft, answers: dict[str, str], about: str) -> str:
    lines = ["nnlab: 1", f"title: {_scalar(draft.title)}", "topic: practice", "about: |"]
    lines += [f"  {line}".rstrip() for line in about.splitlines()]
    lines += _block("values", draft.values)
    if draft.data:
        lines += _block("data", draft.data)
    if draft.learn:
        lines.append(f"learn: [{', '.join(draft.learn)}]")
    lines.append("compute:")
    lines += [f"  - {_scalar(eq)}" for eq in draft.compute]
    if draft.backward:
        lines.append(f"backward: {draft.backward}")
    if draft.train:
        lines.append(f"train: {_flow(draft.train)}")
    if answers:
        lines.append("expect:")
        lines += [f"  {ref}: {text}" for ref, text in answers.items()]
    return "\n".join(lines) + "\n"


def _session(text: str) -> Any:
    from nnlab.scenario.model import loads
    from nnlab.session import session_from_scenario

    return session_from_scenario(loads(text, "<practice>"))


def _answer_text(value: Any) -> str:
    """A value as an ``expect:`` answer, numbers to :data:`DIGITS` decimals (their tolerance)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, tuple):  # a shape
        return "[" + ", ".join(str(int(v)) for v in value) + "]"
    a = np.asarray(value)
    if a.ndim == 0:
        return fmt(a.item(), DIGITS)
    return _flow_numbers(a.tolist())


def _fixed(v: np.ndarray) -> str:
    """Numbers with exactly :data:`DIGITS` decimals (options compared at one precision)."""
    if v.ndim == 0:
        return f"{float(v):.{DIGITS}f}"
    return "[" + ", ".join(_fixed(x) for x in v) + "]"


def _as_written(v: np.ndarray, ref: str) -> Any:
    """An option's value in the form its answer is written (a shape as a tuple of ints)."""
    if ref.startswith("shape("):
        return tuple(int(x) for x in v)
    return v.item() if v.ndim == 0 else v


def _flow_numbers(items: Any) -> str:
    if isinstance(items, list):
        return "[" + ", ".join(_flow_numbers(i) for i in items) + "]"
    return fmt(items, DIGITS)


# -- multiple choice --------------------------------------------------------------------------------

def _with_options(ex: Exercise, rng: random.Random) -> Exercise:
    from nnlab.diagnosis import alternative_answers
    from nnlab.scenario.model import loads
    from nnlab.session import session_from_scenario

    ref = ex.mcq_ref
    right = np.asarray(_session(_scenario_text(ex.draft, {}, ex.draft.question)).evaluate(ref), dtype=float)
    key_text = _answer_text(_as_written(right, ref)) if np.all(right == np.round(right)) else _fixed(right)
    scenario = loads(_scenario_text(ex.draft, {ref: key_text}, ex.draft.question), "<practice>")
    session = session_from_scenario(scenario)
    entry = scenario.expect[0]
    tol = float(np.max(entry.abs_tol)) if entry.abs_tol is not None else 0.0
    key = np.asarray(session.evaluate(ref), dtype=float)
    count = ref.startswith(("train.", "params", "shape(", "size("))  # a count is never negative
    whole = bool(np.all(key == np.round(key)))
    tol = tol if whole else 0.5 * 10.0 ** -DIGITS  # every option is written with the same decimals

    def written(v: np.ndarray) -> str:
        if whole and np.all(v == np.round(v)):
            return _answer_text(_as_written(v, ref))
        return _fixed(v)

    chosen: list[tuple[str, str]] = []  # (text, misconception)
    taken = [key]

    def free(v: np.ndarray) -> bool:
        return (v.shape == key.shape and bool(np.all(np.isfinite(v))) and not (count and np.any(v < 0))
                and all(np.max(np.abs(v - t)) > max(2 * tol, 1e-9) for t in taken))

    for mid, value in alternative_answers(session, entry):
        v = np.asarray(value, dtype=float)
        if len(chosen) < 4 and free(v):
            taken.append(v)
            chosen.append((written(v), mid))
    first = float(key.flat[0])
    step = max(1.0, round(abs(first) * 0.1)) if whole else max(abs(first) * 0.2, 0.05)
    for k in (1, -1, 2, -2, 3, -3, 4, -4, 5, -5):
        if len(chosen) == 4:
            break
        v = key.copy()
        v.flat[k % v.size if v.size > 1 and abs(k) > 2 else 0] += k * step
        if free(v):
            taken.append(v)
            chosen.append((written(v), "near-miss"))
    texts = [(written(key), None)] + chosen
    rng.shuffle(texts)
    options = tuple(Option(letter, text, mid) for letter, (text, mid) in zip(LETTERS, texts))
    return Exercise(ex.topic, ex.seed, ex.draft, ex.answers, options, ex.draws)
