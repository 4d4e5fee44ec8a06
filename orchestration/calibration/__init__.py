"""The calibration domain: the self-running IRT calibration loop.

outbox_events (bronze; silver `responses` once it exists)
    │  pinned Iceberg snapshot, read with DuckDB (lake.calibration_io)
    ▼
item_parameters  ── asset: calibrate (2PL by default, engine.py), write a new, not-live
    │               version per item to content.item_parameters (+ outbox events) and the
    │               Iceberg history table `item_parameters`, provenance on every row;
    │               each group linked to the live scale through its live items first
    │  blocking checks: item_parameters_are_finite, item_parameters_are_within_bounds,
    │                   item_parameters_drift_is_small (vs the live version)
    ▼
live_item_parameters ── asset: promote the calibration atomically (one transaction, the
                        predicates re-evaluated under the item locks); the exam service
                        reads the live rows.
"""
