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


def test_openapi_declares_the_bearer_scheme_and_where_anonymous_may_go(stack):
    """config/policies.json: anyone reads and writes (not deletes) Dictionary words; a Todo
    needs a token for everything."""
    doc = requests.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT"), scheme
    assert doc["security"] == [{"bearerAuth": []}, {}], doc["security"]
    bearer, either = [{"bearerAuth": []}], [{"bearerAuth": []}, {}]
    paths = doc["paths"]
    for path, method, want in (("/v1/Dictionary", "get", either), ("/v1/Dictionary", "post", either),
                               ("/v1/Dictionary/{id}", "patch", either),
                               ("/v1/Dictionary/{id}", "delete", bearer),
                               ("/v1/Todo", "get", bearer), ("/v1/Todo", "post", bearer),
                               ("/v1/Todo/count", "get", bearer), ("/v1/Todo/{id}", "delete", bearer),
                               ("/v1/models", "get", either), ("/healthz", "get", [])):
        assert paths[path][method]["security"] == want, (path, method, paths[path][method]["security"])
    assert "401" in paths["/v1/Todo"]["post"]["responses"]
