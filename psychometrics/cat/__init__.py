"""Computerised adaptive testing: serialisable state, selection, exposure, stopping, simulation."""

from psychometrics.cat.bank import CATBank
from psychometrics.cat.engine import (
    ItemChoice,
    StopDecision,
    check_stop,
    finish,
    posterior,
    record_response,
    select_batch,
    select_next_item,
    start,
)
from psychometrics.cat.exposure import choose, sympson_hetter_calibrate
from psychometrics.cat.simulation import SimulationResult, simulate_cat, simulate_responses
from psychometrics.cat.state import CATConfig, CATState, Decision
from psychometrics.cat.stopping import REASONS, stop_codes

__all__ = [
    "REASONS",
    "CATBank",
    "CATConfig",
    "CATState",
    "Decision",
    "ItemChoice",
    "SimulationResult",
    "StopDecision",
    "check_stop",
    "choose",
    "finish",
    "posterior",
    "record_response",
    "select_batch",
    "select_next_item",
    "simulate_cat",
    "simulate_responses",
    "start",
    "stop_codes",
    "sympson_hetter_calibrate",
]
