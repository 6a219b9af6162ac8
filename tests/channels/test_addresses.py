"""Server addresses typed to connect a channel: malformed ones are refused with a sentence in the
field (never a server error), and IPv6 addresses keep their brackets and port."""

import pytest

from api.models import APIToken
from channels.addresses import BadAddress, server_base_url
from channels.guard import normalise_base_url
from channels.models import Channel
from channels.networks.base import ConnectError
from tests.api.conftest import ApiClient

MALFORMED = [
    "[",
    "http://[",
    "example.org:abc",
    "http://::1:80",
    "https://[2001:db8::1",
    "a b.org",
    "x.org:99999",
]
MASTODON_SENTENCE = "Enter a server address such as mastodon.social."
BLUESKY_SENTENCE = "Enter a server address such as bsky.social."


@pytest.mark.parametrize(
    ("typed", "base_url"),
    [
        ("mastodon.social", "https://mastodon.social"),
        (" Mastodon.Social/about ", "https://mastodon.social"),
        ("https://pds.example.org:2583/xrpc", "https://pds.example.org:2583"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
        ("https://[2001:DB8::1]:8443/", "https://[2001:db8::1]:8443"),
        ("2001:db8::1", "https://[2001:db8::1]"),
        ("198.51.100.7:8080", "https://198.51.100.7:8080"),
    ],
)
def test_it_reads_a_server_address(typed, base_url):
    assert server_base_url(typed, example="mastodon.social") == base_url


@pytest.mark.parametrize("typed", [*MALFORMED, "", "ftp://x.org", "https://a@b.org", "x.org:0", "-x.org"])
def test_it_refuses_a_malformed_address_with_a_sentence(typed):
    with pytest.raises(BadAddress) as refused:
        server_base_url(typed, example="mastodon.social")
    assert refused.value.message == MASTODON_SENTENCE


def test_the_guarded_normaliser_keeps_ipv6_brackets_and_port(settings):
    settings.SSRF_ALLOW_PRIVATE = True
    assert normalise_base_url("[2001:db8::1]:8443") == "https://[2001:db8::1]:8443"
    assert normalise_base_url("https://[::1]:3000/") == "https://[::1]:3000"


@pytest.fixture
def alice(client, cast):
    client.force_login(cast.alice)
    return client


def field_errors(response, form, field) -> list[str]:
    return list(response.context[form].errors.get(field, []))


@pytest.mark.parametrize("typed", MALFORMED)
def test_the_mastodon_forms_refuse_a_malformed_server_in_the_field(alice, typed):
    url = "/w/acme/channels/connect/mastodon/"
    token = alice.post(url, {"method": "token", "token-instance_url": typed, "token-access_token": "abc"})
    assert token.status_code == 200
    assert field_errors(token, "token_form", "instance_url") == [MASTODON_SENTENCE]
    signin = alice.post(url, {"method": "signin", "signin-instance_url": typed})
    assert signin.status_code == 200
    assert field_errors(signin, "signin_form", "instance_url") == [MASTODON_SENTENCE]
    assert MASTODON_SENTENCE in signin.content.decode()
    assert not Channel.objects.exists()


@pytest.mark.parametrize("typed", MALFORMED)
def test_the_bluesky_form_refuses_a_malformed_server_in_the_field(alice, typed):
    data = {"handle": "alice.example.org", "app_password": "abcd-efgh-ijkl-mnop", "pds_url": typed}
    response = alice.post("/w/acme/channels/connect/bluesky/", data)
    assert response.status_code == 200
    assert field_errors(response, "form", "pds_url") == [BLUESKY_SENTENCE]
    assert BLUESKY_SENTENCE in response.content.decode()
    assert not Channel.objects.exists()


def test_the_mastodon_form_passes_an_ipv6_server_on_intact(alice, monkeypatch):
    seen = []

    def connect_with_token(instance_url, access_token):
        seen.append(instance_url)
        raise ConnectError("The server did not answer.", field="instance_url")

    monkeypatch.setattr("channels.networks.mastodon.connect.connect_with_token", connect_with_token)
    data = {"method": "token", "token-instance_url": "[2001:db8::1]:8443", "token-access_token": "abc"}
    alice.post("/w/acme/channels/connect/mastodon/", data)
    assert seen == ["https://[2001:db8::1]:8443"]


@pytest.fixture
def api(client, cast, redis_conn):
    _, secret = APIToken.issue(workspace=cast.workspace, user=cast.alice, name="addresses")
    return ApiClient(client, secret)


@pytest.mark.parametrize("typed", MALFORMED)
@pytest.mark.parametrize(
    ("payload", "field", "sentence"),
    [
        ({"network": "mastodon", "access_token": "abc"}, "instance_url", MASTODON_SENTENCE),
        (
            {"network": "bluesky", "handle": "alice.example.org", "app_password": "abcd-efgh-ijkl-mnop"},
            "pds_url",
            BLUESKY_SENTENCE,
        ),
    ],
    ids=["mastodon", "bluesky"],
)
def test_the_api_refuses_a_malformed_server_with_the_field_named(api, typed, payload, field, sentence):
    response = api.post("/api/v1/channels", {**payload, field: typed})
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {field: [sentence]}
    assert response.json()["error"] == sentence
    assert not Channel.objects.exists()
