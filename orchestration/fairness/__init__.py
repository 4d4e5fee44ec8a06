"""The fairness domain: DIF of the item bank by a grouping column.

responses (pinned Iceberg snapshot, lake.calibration_io) + attempt groups (lake.dif_io)
    ▼
item_dif  ── asset: per exam, Mantel–Haenszel (ETS A/B/C, purified matching score) and IRT
    │         likelihood-ratio DIF (purified anchors) of every item, reference = the largest
    │         group, each other group large enough a focal group; rows in content.item_dif
    │  check items_show_no_c_level_dif (WARN): no item of the run in ETS class C
    ▼
agg_item_dif_flags (dbt mart, the latest run per item and focal group) for the item-bank dashboard
"""
