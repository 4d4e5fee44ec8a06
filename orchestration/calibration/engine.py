"""The calibration plan, pure (numpy/scipy + psychometrics): responses in, candidate rows out.

Design (see orchestration/calibration/__init__.py for the whole loop):

* Persons are attempts (each attempt is one draw of ability; a student's repeated attempts are
  treated as independent), items are the bank's dichotomous (`scoring = 'key'`) items that are not
  retired. Responses to unknown, graded or retired items are left out.
* Operational items with at least `min_item_responses` responses are calibrated concurrently
  (marginal ML, EM) per *calibration group*: a connected component of the attempt-item graph.
  Items in different groups share no examinees and so no scale; each group's scale is fixed by
  its examinees' ability distribution, N(0, 1).
* Pilot items with at least `min_item_responses` responses get fixed-anchor calibration: the
  operational items of their group that have live parameters are held at those values and the
  latent mean and SD are estimated, so the pilots land on the live scale. A pilot is promotable
  once it has `pilot_promote_responses` responses; before that its candidate is only recorded.
* Linking: a free calibration puts each group's examinees at N(0, 1), so when the population
  shifts, every item moves with the scale. Items of the group that have live parameters are the
  anchors: the new calibration is linked to the live scale through them (Stocking-Lord by
  default, `linking`), anchors that still differ from their live curve by more than
  `max_icc_rmsd` after linking are dropped as drifted (one at a time, worst first), and the
  candidates are the *linked* parameters, with the constants and their provenance recorded.
  The drift check then compares on the live scale: a population shift is absorbed by the
  constants, a changed item is not.
* Fit: Orlando-Thissen S-X2 on the group's attempts that answered every item of the group
  (skipped when fewer than `fit_min_persons` did, e.g. adaptive exams).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from core.settings import CalibrationSettings
from orchestration.calibration.items import BankItem, Candidate, finite_or_none
from orchestration.calibration.linking import Linking, link_to_live
from psychometrics import (
    LINKING_METHODS,
    CalibrationResult,
    ItemParameters,
    calibrate,
    responses_from_triples,
    sx2_item_fit,
    transform_items,
)

ANCHOR_MODELS = ("rasch", "1pl", "2pl")
#: The thresholds are the `calibration` section of the settings (`DREAMSEED_CALIBRATION_*`).
CalibrationConfig = CalibrationSettings


@dataclass(frozen=True)
class Skipped:
    item_id: str
    reason: str
    n_responses: int


@dataclass
class Plan:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    n_responses_used: int = 0

    def summary(self) -> dict[str, Any]:
        reasons: dict[str, int] = {}
        for s in self.skipped:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        return {
            "candidates": len(self.candidates),
            "operational": sum(c.role == "operational" for c in self.candidates),
            "pilot": sum(c.role == "pilot" for c in self.candidates),
            "promotable": sum(c.is_promotable for c in self.candidates),
            "skipped": reasons,
            "groups": self.groups,
            "n_responses_used": self.n_responses_used,
        }


@dataclass(frozen=True)
class Coded:
    """Responses as integer codes: person (attempt) and item indices, 0/1 answers."""

    person: np.ndarray
    item: np.ndarray
    correct: np.ndarray
    item_ids: tuple[str, ...]
    n_persons: int


def code_responses(responses: pa.Table) -> Coded:
    """Dictionary-encode attempt and item ids of an Arrow table with attempt_id, item_id,
    is_correct."""
    if responses.num_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Coded(empty, empty, empty, (), 0)
    attempts = pc.dictionary_encode(responses.column("attempt_id")).combine_chunks()
    items = pc.dictionary_encode(responses.column("item_id")).combine_chunks()
    correct = pc.cast(responses.column("is_correct"), pa.int8()).to_numpy(zero_copy_only=False)
    return Coded(
        person=attempts.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        item=items.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        correct=np.asarray(correct, dtype=np.int64),
        item_ids=tuple(str(x) for x in items.dictionary.to_pylist()),
        n_persons=len(attempts.dictionary),
    )


def _groups(person: np.ndarray, item: np.ndarray, n_persons: int, n_items: int) -> np.ndarray:
    """Connected component of each item in the bipartite attempt-item graph."""
    graph = sp.coo_matrix(
        (np.ones(person.size), (person, n_persons + item)),
        shape=(n_persons + n_items, n_persons + n_items),
    )
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels[n_persons:])


def _fit(
    person: np.ndarray,
    item: np.ndarray,
    correct: np.ndarray,
    items: ItemParameters,
    cfg: CalibrationConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """S-X2 on the persons who answered every item (dense complete block)."""
    n_items = items.n_items
    counts = np.bincount(person, minlength=int(person.max()) + 1 if person.size else 0)
    complete = np.flatnonzero(counts == n_items)
    if complete.size < cfg.fit_min_persons or n_items < 3:
        return None
    keep = np.isin(person, complete)
    rows = np.searchsorted(complete, person[keep])
    y = np.full((complete.size, n_items), np.nan)
    y[rows, item[keep]] = correct[keep]
    fit = sx2_item_fit(y, items)
    return fit.sx2, fit.df, fit.p_value


def _run(
    person: np.ndarray,
    item: np.ndarray,
    correct: np.ndarray,
    n_items: int,
    cfg: CalibrationConfig,
    anchors: Sequence[int] = (),
    anchor_parameters: ItemParameters | None = None,
) -> tuple[CalibrationResult, int, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Calibrate the responses of one group (persons renumbered densely)."""
    uniq, dense = np.unique(person, return_inverse=True)
    data = responses_from_triples(dense, item, correct, int(uniq.size), n_items)
    result = calibrate(
        data,
        cfg.model,
        anchors=list(anchors) if anchors else None,
        anchor_parameters=anchor_parameters if anchors else None,
        standard_errors=cfg.standard_errors,
        slope_prior=cfg.slope_prior,
        tol=cfg.tol,
        max_iter=cfg.max_iter,
    )
    fit = _fit(dense, item, correct, result.items, cfg)
    return result, int(uniq.size), fit


def _candidates(
    result: CalibrationResult,
    linking: Linking,
    n_persons: int,
    fit: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    local_ids: Sequence[str],
    free: Sequence[int],
    counts: np.ndarray,
    role: str,
    group_id: int,
    anchors: int,
    cfg: CalibrationConfig,
) -> list[Candidate]:
    """Candidate rows of the `free` items, on the live scale when `linking` moved them (SEs
    scale with the constants: se(a) / A, se(b) * A)."""
    out = []
    se = result.standard_errors
    A = linking.A
    items = (
        transform_items(result.items, linking.constants) if A != 1 or linking.B else result.items
    )
    for j in free:
        n = int(counts[j])
        out.append(
            Candidate(
                item_id=local_ids[j],
                role=role,
                model=items.model,
                a=float(items.a[j]),
                d=tuple(float(x) for x in items.d[j] if not np.isnan(x)),
                c=float(items.c[j]),
                se_a=finite_or_none(float(se.a[j]) / A) if se is not None else None,
                se_b=finite_or_none(float(se.b[j, 0]) * A) if se is not None else None,
                n_responses=n,
                group_id=group_id,
                n_persons=n_persons,
                log_likelihood=float(result.log_likelihood),
                converged=bool(result.converged),
                iterations=int(result.iterations),
                max_change=float(result.convergence.max_change),
                latent_mean=A * float(result.latent_mean) + linking.B,
                latent_sd=A * float(result.latent_sd),
                anchors=anchors,
                is_promotable=role == "operational" or n >= cfg.pilot_promote_responses,
                sx2=finite_or_none(float(fit[0][j])) if fit is not None else None,
                sx2_df=int(fit[1][j]) if fit is not None else None,
                sx2_p=finite_or_none(float(fit[2][j])) if fit is not None else None,
                linking=linking.to_dict(),
            )
        )
    return out


def plan_calibration(coded: Coded, bank: Mapping[str, BankItem], cfg: CalibrationConfig) -> Plan:
    """Calibrate operational items per group, then pilots anchored on live operational items."""
    plan = Plan()
    if cfg.model not in ("rasch", "1pl", "2pl", "3pl"):
        raise ValueError(f"the calibration loop handles dichotomous models, not {cfg.model!r}")
    if cfg.linking not in (*LINKING_METHODS, "none"):
        raise ValueError(
            f"linking must be one of {(*LINKING_METHODS, 'none')}, not {cfg.linking!r}"
        )
    n_items = len(coded.item_ids)
    counts = np.bincount(coded.item, minlength=n_items) if n_items else np.zeros(0, np.int64)
    role = np.full(n_items, "", dtype=object)
    for j, item_id in enumerate(coded.item_ids):
        entry = bank.get(item_id)
        n = int(counts[j])
        if entry is None:
            plan.skipped.append(Skipped(item_id, "not_in_bank", n))
        elif entry.status == "retired":
            plan.skipped.append(Skipped(item_id, "retired", n))
        elif entry.scoring != "key":
            plan.skipped.append(Skipped(item_id, "not_dichotomous", n))
        elif n < cfg.min_item_responses:
            plan.skipped.append(Skipped(item_id, "too_few_responses", n))
        else:
            role[j] = "pilot" if entry.status == "pilot" else "operational"

    # ---- operational items, free calibration per group
    op = np.flatnonzero(role == "operational")
    keep = np.isin(coded.item, op)
    person, item, correct = coded.person[keep], coded.item[keep], coded.correct[keep]
    plan.n_responses_used += int(keep.sum())
    local = np.full(n_items, -1, dtype=np.int64)
    local[op] = np.arange(op.size)
    if op.size:
        labels = _groups(person, local[item], coded.n_persons, op.size)
        for g in np.unique(labels):
            members = op[labels == g]
            if members.size < 2:
                for j in members:
                    plan.skipped.append(
                        Skipped(coded.item_ids[j], "group_too_small", int(counts[j]))
                    )
                continue
            sel = np.isin(item, members)
            idx = np.full(n_items, -1, dtype=np.int64)
            idx[members] = np.arange(members.size)
            result, n_persons, fit = _run(
                person[sel], idx[item[sel]], correct[sel], members.size, cfg
            )
            ids = [coded.item_ids[j] for j in members]
            linking = link_to_live(result, ids, bank, cfg)
            group_id = len(plan.groups)
            plan.groups.append(
                _group_summary(group_id, "operational", result, n_persons, ids, 0, linking)
            )
            plan.candidates += _candidates(
                result, linking, n_persons, fit, ids, range(members.size), counts[members],
                "operational", group_id, 0, cfg,
            )  # fmt: skip

    # ---- pilot items, fixed-anchor calibration on live operational items
    pilots = np.flatnonzero(role == "pilot")
    if pilots.size:
        anchor_ok = np.array(
            [
                (e := bank.get(i)) is not None
                and e.status == "operational"
                and e.scoring == "key"
                and e.has_live
                and e.live_model in ANCHOR_MODELS
                for i in coded.item_ids
            ],
            dtype=bool,
        )
        pilot_persons = np.unique(coded.person[np.isin(coded.item, pilots)])
        sel = np.isin(coded.person, pilot_persons) & (
            np.isin(coded.item, pilots) | anchor_ok[coded.item]
        )
        person, item, correct = coded.person[sel], coded.item[sel], coded.correct[sel]
        used = np.unique(item)
        local = np.full(n_items, -1, dtype=np.int64)
        local[used] = np.arange(used.size)
        labels = _groups(person, local[item], coded.n_persons, used.size)
        for g in np.unique(labels):
            members = used[labels == g]
            p_members = members[role[members] == "pilot"]
            a_members = members[anchor_ok[members]]
            if p_members.size == 0:
                continue
            if a_members.size < 2:
                for j in p_members:
                    plan.skipped.append(
                        Skipped(coded.item_ids[j], "no_live_anchors", int(counts[j]))
                    )
                continue
            order = np.concatenate([a_members, p_members])
            idx = np.full(n_items, -1, dtype=np.int64)
            idx[order] = np.arange(order.size)
            gsel = np.isin(item, order)
            anchors = [bank[coded.item_ids[j]] for j in a_members]
            anchor_parameters = ItemParameters(
                cfg.model,
                np.array([float(e.live_a or 0.0) for e in anchors]),
                np.array([[e.live_d[0]] for e in anchors]),
                np.array([float(e.live_c) for e in anchors]),
            )
            result, n_persons, fit = _run(
                person[gsel], idx[item[gsel]], correct[gsel], order.size, cfg,
                anchors=range(a_members.size), anchor_parameters=anchor_parameters,
            )  # fmt: skip
            ids = [coded.item_ids[j] for j in order]
            linking = Linking(
                "fixed-anchor",
                anchors=int(a_members.size),
                anchors_available=int(a_members.size),
                target_calibrations=tuple(
                    sorted({e.live_calibration_id or "" for e in anchors} - {""})
                ),
            )
            group_id = len(plan.groups)
            plan.groups.append(
                _group_summary(
                    group_id, "pilot", result, n_persons, ids, int(a_members.size), linking
                )
            )
            plan.n_responses_used += int(np.isin(item[gsel], p_members).sum())
            plan.candidates += _candidates(
                result, linking, n_persons, fit, ids, range(a_members.size, order.size),
                counts[order], "pilot", group_id, int(a_members.size), cfg,
            )  # fmt: skip
    return plan


def _group_summary(
    group_id: int,
    kind: str,
    result: CalibrationResult,
    n_persons: int,
    ids: list[str],
    anchors: int,
    linking: Linking,
) -> dict[str, Any]:
    return {
        "group_id": group_id,
        "kind": kind,
        "items": len(ids),
        "anchors": anchors,
        "persons": n_persons,
        "log_likelihood": round(float(result.log_likelihood), 3),
        "aic": round(float(result.aic), 3),
        "bic": round(float(result.bic), 3),
        "converged": bool(result.converged),
        "iterations": int(result.iterations),
        "max_change": float(result.convergence.max_change),
        # the group's ability distribution on the live scale
        "latent_mean": round(linking.A * float(result.latent_mean) + linking.B, 4),
        "latent_sd": round(linking.A * float(result.latent_sd), 4),
        "seconds": round(float(result.convergence.seconds), 3),
        "linking": linking.to_dict(),
    }
