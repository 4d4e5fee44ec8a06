"""Privacy: subject export, erasure through the lake's history, retention and consent, all driven
by the data inventory (`governance/data/inventory.json`). A library on top of `lake` and
`governance` (it needs both), run by the CLI, the API's admin routes and Dagster."""
