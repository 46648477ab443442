from tests.conftest import Api


def test_create_form_and_submit(api: Api, form: dict) -> None:
    resp = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {"name": "Ada", "email": "ada@example.org"}})
    assert resp.status_code == 201, resp.json
    assert set(resp.json) >= {"id", "form_id", "form_version", "status", "created_at", "answers"}
