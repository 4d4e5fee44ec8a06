"""Adaptive-exam logic without I/O: configuration, bank building, state rebuild, scoring, replay.

The live path and the replay run the very same sequence of psychometrics.cat calls:

    state = start(seed, cfg)
    loop: check_stop → (finish | select_next_item) → [the examinee answers] → record_response

Selection randomness is `numpy.random.default_rng([seed, position])` inside psychometrics, so the
seed stored with the attempt plus the stored responses reproduce every selection.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import InvalidInput
from psychometrics import (
    CATBank,
    CATConfig,
    CATState,
    ItemChoice,
    ItemParameters,
    check_stop,
    record_response,
    select_next_item,
    simulate_cat,
    start,
    sympson_hetter_calibrate,
)
from psychometrics.personfit import person_fit

NO_SKILL = "-"
RNG_DESCRIPTION = "numpy.random.default_rng([seed, position])"


@dataclass(frozen=True)
class PoolItem:
    """What the exam needs to know about one pool item when it is created."""

    item_id: str
    status: str
    skills: tuple[str, ...]
    n_options: int
    scoring: str
    has_parameters: bool


@dataclass(frozen=True)
class ParamRow:
    """Live IRT parameters of one pool item (slope-intercept form), or None for a pilot."""

    param_id: str | None
    model: str
    a: float
    d: tuple[float, ...]
    c: float


@dataclass(frozen=True)
class StoredStep:
    """One stored selection (and its response, once answered)."""

    position: int
    bank_index: int
    pilot: bool
    reason: str
    criterion: float | None
    score: int | None = None


# ------------------------------------------------------------------------------ configuration
def pilot_positions(n_pilot_items: int, share: float, max_items: int) -> tuple[int, ...]:
    """Positions (0-based, whole sequence) that get a pilot item so pilots are ≈ `share` of it.

    p pilots among max_items scored items give share p / (max_items + p); they are spread
    evenly and never take position 0 (the first item is always scored).
    """
    if share <= 0 or n_pilot_items == 0:
        return ()
    wanted = round(share * max_items / (1.0 - share))
    p = max(1, min(n_pilot_items, wanted))
    total = max_items + p
    positions = sorted({max(1, round((k + 1) * total / (p + 1))) for k in range(p)})
    return tuple(min(x, total - 1) for x in positions)


def build_cat_config(adaptive: dict[str, Any], pool: Sequence[PoolItem]) -> CATConfig:
    """Translate the exam's adaptive settings and its pool into a psychometrics CATConfig.

    Raises InvalidInput with a message naming the problem.
    """
    stopping = adaptive["stopping"]
    exposure = adaptive["exposure"]
    blueprint: dict[str, float] = adaptive.get("blueprint") or {}
    if stopping["max_items"] < max(1, stopping["min_items"]):
        raise InvalidInput("stopping.max_items must be at least stopping.min_items and at least 1")
    if stopping.get("se_target") is None and stopping.get("cut_score") is None:
        pass  # fixed-length adaptive test: stops at max_items
    missing = [p.item_id for p in pool if p.status == "operational" and not p.has_parameters]
    if missing:
        raise InvalidInput(
            "operational items of an adaptive exam need live IRT parameters; these have none: "
            + ", ".join(missing[:20])
            + (" …" if len(missing) > 20 else "")
        )
    retired = [p.item_id for p in pool if p.status == "retired"]
    if retired:
        raise InvalidInput("retired items cannot be in an exam: " + ", ".join(retired[:20]))
    operational = [i for i, p in enumerate(pool) if p.status == "operational"]
    if not operational:
        raise InvalidInput("an adaptive exam needs at least one operational (calibrated) item")
    item_skills: tuple[str, ...] | None = None
    targets: tuple[tuple[str, float], ...] = ()
    if blueprint:
        labels = []
        for p in pool:
            match = [s for s in sorted(blueprint) if s in p.skills]
            labels.append(match[0] if match else NO_SKILL)
        present = {labels[i] for i in operational}
        absent = sorted(s for s in blueprint if s not in present)
        if absent:
            raise InvalidInput(
                f"blueprint skills {absent} have no operational item in the pool; "
                "add items with these skills or drop them from the blueprint"
            )
        item_skills = tuple(labels)
        targets = tuple((s, float(blueprint[s])) for s in sorted(blueprint))
    pilots = tuple(i for i, p in enumerate(pool) if p.status == "pilot")
    share = float(adaptive.get("pilot_share", 0.0))
    return CATConfig(
        selection=adaptive["selection"],
        exposure=exposure["method"],
        randomesque_k=int(exposure["randomesque_k"]),
        # Sympson-Hetter: K = 1 for every item (no control) until the caller fits the real
        # parameters by simulation (sympson_hetter_parameters), which needs a valid config.
        sh_parameters=(1.0,) * len(pool) if exposure["method"] == "sympson-hetter" else None,
        item_skills=item_skills,
        content_targets=targets,
        se_target=stopping.get("se_target"),
        min_items=int(stopping["min_items"]),
        max_items=int(stopping["max_items"]),
        cut_score=stopping.get("cut_score"),
        classification_z=float(stopping["classification_z"]),
        pilot_items=pilots,
        pilot_positions=pilot_positions(len(pilots), share, int(stopping["max_items"])),
        n_strata=int(adaptive.get("n_strata", 4)),
        prior_mean=float(adaptive.get("prior_mean", 0.0)),
        prior_sd=float(adaptive.get("prior_sd", 1.0)),
    )


def sympson_hetter_parameters(
    items: ItemParameters,
    config: CATConfig,
    max_rate: float,
    *,
    examinees: int = 400,
    seed: int = 7,
) -> tuple[float, ...]:
    """Sympson–Hetter K_i by simulation (θ ~ prior), so no item is shown to more than `max_rate`.

    psychometrics' calibration wants *selection* rates; a simulation reports *administration*
    rates, which are selection × K, so we divide by K.
    """
    rng = np.random.default_rng(seed)
    theta = rng.normal(config.prior_mean, config.prior_sd, examinees)
    n = items.n_items

    def selection_rate(k: np.ndarray) -> np.ndarray:
        cfg = CATConfig.from_dict({**config.to_dict(), "sh_parameters": [float(x) for x in k]})
        exposure = simulate_cat(items, theta, cfg, seed=seed).exposure
        return np.asarray(np.clip(exposure / np.maximum(k, 1e-6), 0.0, 1.0))

    k = sympson_hetter_calibrate(selection_rate, n, r_max=max_rate, iterations=6)
    return tuple(round(float(x), 6) for x in k)


# ------------------------------------------------------------------------------ bank
def item_parameters(rows: Sequence[ParamRow | None], n_categories: Sequence[int]) -> ItemParameters:
    """The bank in pool order. Uncalibrated (pilot) items get placeholder parameters: they are
    never scored, only seeded at pilot positions."""
    width = max(n_categories) - 1
    a = np.ones(len(rows))
    c = np.zeros(len(rows))
    d = np.full((len(rows), width), np.nan)
    polytomous = any(k > 2 for k in n_categories)
    guessing = False
    for j, row in enumerate(rows):
        if row is None:
            k = n_categories[j]
            d[j, : k - 1] = -np.linspace(-1.0, 1.0, k - 1) if k > 2 else [0.0]
            continue
        a[j] = row.a
        c[j] = row.c
        d[j, : len(row.d)] = row.d
        guessing |= row.c > 0
    model = "3pl" if guessing else ("grm" if polytomous else "2pl")
    return ItemParameters(model, a, d, c)


def bank_key(exam_id: str, param_ids: Sequence[str | None]) -> str:
    """Identifies an exam's bank under one set of parameters (the in-process cache key)."""
    digest = hashlib.sha256("|".join(p or "-" for p in param_ids).encode()).hexdigest()[:24]
    return f"{exam_id}:{digest}"


# ------------------------------------------------------------------------------ the CAT loop
@dataclass(frozen=True)
class Step:
    """The outcome of moving the test forward: the next selection, or the stop."""

    state: CATState
    choice: ItemChoice | None
    stop_reason: str | None
    candidates: int


def candidates_left(state: CATState, bank: CATBank) -> int:
    """Operational items not yet administered (enemies not considered)."""
    return bank.unused_operational(state.items)


def advance(state: CATState, bank: CATBank, config: CATConfig) -> Step:
    """Check the stopping rules; if the test goes on, select the next item."""
    decision = check_stop(state, bank, config)
    if decision.stop:
        return Step(state, None, decision.reason, 0)
    try:
        choice = select_next_item(state, bank, config)
    except ValueError:
        return Step(state, None, "stop: item bank exhausted", 0)
    return Step(state, choice, None, candidates_left(state, bank))


def choice_of(step: StoredStep) -> ItemChoice:
    return ItemChoice(step.bank_index, step.pilot, step.reason, step.criterion)


def rebuild_state(
    seed: int, config: CATConfig, bank: CATBank, steps: Sequence[StoredStep]
) -> CATState:
    """The CAT state after the answered steps (the cache rebuilt from PostgreSQL)."""
    state = start(seed, config)
    for s in steps:
        if s.score is None:
            break
        state = record_response(state, choice_of(s), s.score, bank)
    return state


# ------------------------------------------------------------------------------ scoring
@dataclass(frozen=True)
class Score:
    theta: float
    se: float
    scale_score: float
    percentile: float
    skills: list[dict[str, Any]] = field(default_factory=list)
    fit: PersonFitResult | None = None


@dataclass(frozen=True)
class PersonFitResult:
    """Snijders' lz* of the scored answers, the misfit flag and its reason (lz* and the flag
    are None when the pattern cannot be judged; the reason says why)."""

    lz_star: float | None
    is_misfit: bool | None
    reason: str


def person_fit_of(
    items: ItemParameters, codes: Sequence[int], prior_mean: float, prior_sd: float
) -> PersonFitResult:
    """lz* at the MAP θ under the scoring prior (an estimator lz* is corrected for; EAP is
    not one), flagged below -1.645 (α = .05).

    items: the J scored items in answer order; codes: their J category scores (graded items
    included: the correction is taken over categories).
    """
    answers = np.asarray(codes, dtype=np.float64)[None, :]
    fit = person_fit(answers, items, estimator="map", prior_mean=prior_mean, prior_sd=prior_sd)
    value = float(fit.lz_star[0])
    if not math.isfinite(value):
        return PersonFitResult(None, None, fit.reasons[0])
    return PersonFitResult(value, bool(fit.flagged[0]), fit.reasons[0])


def percentile_of(theta: float, mean: float, sd: float) -> float:
    """Percentile rank in the calibration population N(mean, sd²) (the CAT's prior)."""
    return round(100.0 * 0.5 * (1.0 + math.erf((theta - mean) / (sd * math.sqrt(2.0)))), 1)


def score(
    state: CATState,
    bank: CATBank,
    config: CATConfig,
    scale: dict[str, float],
    item_skills: Sequence[Sequence[str]],
    correct: Sequence[bool],
) -> Score:
    """θ, SE, scale score, percentile and a per-skill profile of the scored responses.

    The skill profile is an EAP estimate from each skill's items alone (same prior), with the
    item count and number correct: a diagnostic, less precise than the overall θ.
    """
    theta, se = float(state.theta), float(state.se)
    by_skill: dict[str, list[int]] = {}
    for n, (item, pilot) in enumerate(zip(state.items, state.pilot, strict=True)):
        if pilot:
            continue
        for s in item_skills[item] or (NO_SKILL,):
            by_skill.setdefault(s, []).append(n)
    nodes = bank.grid.nodes
    scored = [n for n, pilot in enumerate(state.pilot) if not pilot]
    fit = person_fit_of(
        bank.items.subset([state.items[n] for n in scored]),
        [state.responses[n] for n in scored],
        config.prior_mean,
        config.prior_sd,
    )
    skills = []
    for s in sorted(by_skill):
        lp = bank.grid.log_weights.copy()
        for n in by_skill[s]:
            lp = lp + bank.log_p[state.items[n], state.responses[n]]
        post = np.exp(lp - lp.max())
        post /= post.sum()
        mean = float(post @ nodes)
        sd = math.sqrt(max(float(post @ nodes**2) - mean * mean, 0.0))
        skills.append(
            {
                "skill": s,
                "items": len(by_skill[s]),
                "correct": sum(1 for n in by_skill[s] if correct[n]),
                "theta": round(mean, 4),
                "se": round(sd, 4),
            }
        )
    return Score(
        theta=theta,
        se=se,
        scale_score=round(scale["mean"] + scale["sd"] * theta, 1),
        percentile=percentile_of(theta, config.prior_mean, config.prior_sd),
        skills=skills,
        fit=fit,
    )


# ------------------------------------------------------------------------------ replay
@dataclass(frozen=True)
class ReplayReport:
    matches: bool
    positions_checked: int
    first_mismatch: int | None
    detail: str
    replayed_items: list[int]
    stored_items: list[int]
    stop_reason: str | None
    theta: float
    se: float


def replay(
    seed: int,
    config: CATConfig,
    bank: CATBank,
    stored: Sequence[StoredStep],
    stored_stop_reason: str | None,
) -> ReplayReport:
    """Recompute the test from its seed, configuration and stored responses; compare each
    selection (item, pilot flag, reason, criterion) and the stopping decision with the log."""
    state = start(seed, config)
    replayed: list[int] = []
    stored_items = [s.bank_index for s in stored]
    stop_reason = None
    for s in stored:
        step = advance(state, bank, config)
        if step.choice is None:
            stop_reason = step.stop_reason
            return ReplayReport(
                False,
                len(replayed),
                s.position,
                f"the replay stopped before position {s.position} ({step.stop_reason}) "
                "but the attempt administered an item there",
                replayed,
                stored_items,
                stop_reason,
                state.theta,
                state.se,
            )
        c = step.choice
        replayed.append(c.item)
        same_value = (c.value is None and s.criterion is None) or (
            c.value is not None
            and s.criterion is not None
            and math.isclose(c.value, s.criterion, rel_tol=1e-9, abs_tol=1e-12)
        )
        if (c.item, c.pilot, c.reason) != (s.bank_index, s.pilot, s.reason) or not same_value:
            return ReplayReport(
                False,
                len(replayed),
                s.position,
                f"position {s.position}: replay chose bank item {c.item} (pilot={c.pilot}, "
                f"{c.reason!r}), the log has {s.bank_index} (pilot={s.pilot}, {s.reason!r})",
                replayed,
                stored_items,
                None,
                state.theta,
                state.se,
            )
        if s.score is None:  # the item being asked now (or when the time ran out)
            what = stored_stop_reason or "in progress"
            return ReplayReport(
                True,
                len(replayed),
                None,
                f"{what}: every selection so far reproduced",
                replayed,
                stored_items,
                None,
                state.theta,
                state.se,
            )
        state = record_response(state, c, s.score, bank)
    final = advance(state, bank, config)
    stop_reason = final.stop_reason
    by_rule = stored_stop_reason is not None and stored_stop_reason.startswith("stop:")
    if by_rule and stop_reason != stored_stop_reason:
        return ReplayReport(
            False,
            len(replayed),
            len(stored),
            f"the log stopped with {stored_stop_reason!r}, the replay with {stop_reason!r}",
            replayed,
            stored_items,
            stop_reason,
            state.theta,
            state.se,
        )
    detail = "every selection and the stopping decision reproduced"
    if stored_stop_reason is not None and not stored_stop_reason.startswith("stop:"):
        detail = f"every selection reproduced; the attempt ended by {stored_stop_reason!r}"
    return ReplayReport(
        True,
        len(replayed),
        None,
        detail,
        replayed,
        stored_items,
        stored_stop_reason or stop_reason,
        state.theta,
        state.se,
    )
