"""The served OpenAPI description: the error model as sent, statuses derived per operation,
security only where a token is needed, the CSV media types and the import body."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

PUBLIC = {
    ("get", "/"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
}


async def test_the_schema_describes_what_is_sent(client: AsyncTestClient) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "security" not in spec  # per operation only
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(error["properties"]["error"]["properties"]) == {"status", "message", "detail"}
    operations = {
        (method, path): op for path, item in spec["paths"].items() for method, op in item.items()
    }
    assert set(operations) >= PUBLIC
    assert not [p for _, p in operations if p.startswith("/schema")]
    for key, op in operations.items():
        codes = set(op["responses"])
        assert "400" in codes, key
        for code in codes - {"200", "201", "202", "204"}:
            ref = op["responses"][code].get("$ref", "")
            assert ref == f"#/components/responses/Error{code}" or key == ("get", "/ready"), key
        if key in PUBLIC or key == ("get", "/xapi/about"):
            assert op["security"] == [], key
        elif key[1].startswith("/xapi"):  # LRS clients: Basic credentials, or a token
            assert op["security"] == [{"basic": []}, {"bearer": []}], key
        else:
            assert op["security"] == [{"bearer": []}], key
            assert {"401", "403", "404", "429", "503"} <= codes, key
        if "requestBody" in op:
            assert "413" in codes, key
    responses = spec["components"]["responses"]
    assert responses["Error429"]["headers"]["Retry-After"]["required"] is True
    assert "Retry-After" in responses["Error503"]["headers"]
    assert set(operations[("get", "/health")]["responses"]) == {"200", "400"}
    ready = operations[("get", "/ready")]["responses"]["503"]
    assert "Readiness" in str(ready)
    export = operations[("get", "/api/v1/items/export")]["responses"]["200"]["content"]
    assert set(export) == {"application/json", "text/csv"}
    imported = operations[("post", "/api/v1/items/import")]["requestBody"]
    assert set(imported["content"]) == {"application/json", "text/csv"} and imported["required"]
    assert operations[("post", "/api/v1/auth/logout")]["requestBody"]["required"] is False
    login = spec["components"]["schemas"]["LoginRequest"]
    assert login["additionalProperties"] is False
    assert "200" in operations[("post", "/api/v1/exams/{exam_id}/attempts")]["responses"]
