"""AccessToken's repr: the token never, empty fields not at all (issue 14 item 9)."""

from __future__ import annotations

from sfjwt_vault.token import AccessToken

ANSWER = {
    "access_token": "00Dx0000000001!AQ0AQsecret",
    "instance_url": "https://acme.my.salesforce.com",
    "id": "https://login.salesforce.com/id/00Dx0000000001/005x0000000001",
    "token_type": "Bearer",
    "issued_at": "1700000000000",
}


def test_repr_leaves_out_empty_fields_and_the_token() -> None:
    token = AccessToken.from_response(ANSWER)
    text = repr(token)
    assert text == (
        "AccessToken(instance_url='https://acme.my.salesforce.com', "
        "id='https://login.salesforce.com/id/00Dx0000000001/005x0000000001', token_type='Bearer', "
        "issued_at=1700000000.0)"
    )
    assert "None" not in text and "scope" not in text and "secret" not in text and str(token) == text


def test_repr_shows_fields_that_have_a_value() -> None:
    token = AccessToken.from_response(
        {**ANSWER, "scope": "api web", "api_instance_url": "https://api.salesforce.com", "sfdc_site_url": "x"}
    )
    assert "scope='api web'" in repr(token) and "api_instance_url='https://api.salesforce.com'" in repr(token)
    assert "sfdc_site_url" not in repr(token) and "secret" not in repr(token)
