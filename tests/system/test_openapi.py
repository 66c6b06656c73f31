"""/openapi.json is generated from models.json and is a valid OpenAPI 3.1 document."""

import requests
from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_covers_models(stack):
    resp = requests.get(f"{stack.api_url}/openapi.json", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    doc = resp.json()
    validate(doc)  # raises with the offending path when invalid
    assert doc["openapi"] == "3.1.0"
    models = requests.get(f"{stack.api_url}/v1/models", timeout=10).json()["models"]
    assert models, "models.json declares at least one served model"
    for model in models:
        name = model["name"]
        for path in (f"/v1/{name}", f"/v1/{name}/count", f"/v1/{name}/{{id}}"):
            assert path in doc["paths"], f"{path} missing from {sorted(doc['paths'])}"
        props = doc["components"]["schemas"][name]["properties"]
        expected = {"id", "version", "created_at", "updated_at", *model["attributes"]}
        assert set(props) == expected, f"{sorted(props)} != {sorted(expected)}"
        create = doc["components"]["schemas"][f"{name}Create"]
        required = {a for a, spec in model["attributes"].items() if spec["required"]}
        assert set(create.get("required", [])) == required
