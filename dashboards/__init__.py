"""DreamSeed dashboards: Shiny-for-Python pages behind login and the governance policy.

Run with `dreamseed dashboards serve`; build the ASGI app with `dashboards.app.create_app`.
"""
