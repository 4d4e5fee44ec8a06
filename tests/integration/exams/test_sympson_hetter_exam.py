"""An adaptive exam with Sympson-Hetter exposure control is created through the API (its K
parameters fitted by simulation and stored with its CAT configuration) and delivers items; it
answered 500 before ("sympson-hetter needs sh_parameters" from the provisional configuration)."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from tests.integration.exams.school import adaptive_exam, school
from tests.integration.exams.test_adaptive import take


async def test_a_sympson_hetter_exam_is_created_with_fitted_parameters_and_delivers(
    client: AsyncTestClient,
) -> None:
    sch = await school(client, n_students=1, n_items=20)
    exam = await adaptive_exam(client, sch, exposure={"method": "sympson-hetter", "max_rate": 0.3})
    cat = exam["config"]["cat"]
    assert cat["exposure"] == "sympson-hetter"
    k = cat["sh_parameters"]
    assert len(k) == len(sch.bank)
    assert all(0.0 < x <= 1.0 for x in k)
    assert min(k) < 1.0  # the fit restrained at least one item a 20-item MFI pool overexposes
    final = await take(client, sch, 0, exam["exam_id"], theta=0.0, seed=3)
    assert final["status"] == "completed"
