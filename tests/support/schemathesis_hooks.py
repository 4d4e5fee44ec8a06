"""schemathesis hooks (loaded with SCHEMATHESIS_HOOKS=<this file>): a fresh access token per case.

`POST /api/v1/auth/logout` revokes the token it is sent with; with one shared token the first
logout case would turn every later case into a 401. Each case gets its own token, signed like
the API's (core.auth) for the account named by DREAMSEED_ST_USER_ID / DREAMSEED_ST_ROLE.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import timedelta
from typing import Any

import schemathesis
from hypothesis import strategies as st

from core.auth import issue_token


@schemathesis.auth(refresh_interval=None)
class FreshAccessToken:
    def get(self, case: Any, ctx: Any) -> str:
        token, _ = issue_token(
            os.environ["DREAMSEED_ST_JWT_SECRET"],
            os.environ["DREAMSEED_ST_USER_ID"],
            os.environ["DREAMSEED_ST_ROLE"],
            "access",
            timedelta(minutes=30),
        )
        return token

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


# The items import also takes CSV (`text/csv`); a JSON Schema cannot say what a valid CSV import
# is, so valid ones are generated here: a header and 1-5 keyed items.
_cell = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda text: text.strip() == text
)


@st.composite
def _csv_import(draw: st.DrawFn) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["stem", "options", "answer_key"])
    for _ in range(draw(st.integers(1, 5))):
        options = draw(st.lists(_cell, min_size=2, max_size=4))
        key = draw(st.integers(0, len(options) - 1))
        writer.writerow([draw(_cell), json.dumps(options, ensure_ascii=False), key])
    return out.getvalue().encode()


schemathesis.openapi.media_type("text/csv", _csv_import())
