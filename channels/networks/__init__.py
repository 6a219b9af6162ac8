"""The registry of networks: each is a package `channels/networks/<name>/`, listed once below.

A package holds everything about its network: `network.py` (its NetworkSpec: label, options, hooks),
`adapter.py` (its Adapter: publishing, validation, metrics, limits) and the modules it uses (client,
error table, counting rules, connecting), `connect.py` (its connect pages and urls), `settings.py`
(its environment settings), and its templates under `templates/networks/<name>/`.
Its fake server and tests live in `tests/networks/<name>/`. Adding a network is one package plus one
line in NETWORKS; nothing else names a network.
"""

from functools import cache
from importlib import import_module
from pathlib import Path

NETWORKS = (
    "mastodon",
    "bluesky",
    "threads",
    "misskey",
)


@cache
def spec(name: str):
    """The NetworkSpec of a network name; KeyError for a name not in the registry."""
    if name not in NETWORKS:
        raise KeyError(name)
    return import_module(f"channels.networks.{name}.network").SPEC


def specs() -> list:
    return [spec(name) for name in NETWORKS]


@cache
def option_defaults() -> dict:
    """Each network's post options (their names are unique across networks) and their defaults."""
    return {option.name: option.default for spec in specs() for option in spec.options}


def template_dirs() -> list[Path]:
    """Each package's templates folder (read by the settings module, before Django is set up)."""
    here = Path(__file__).resolve().parent
    return [here / name / "templates" for name in NETWORKS]


def static_dirs() -> list[Path]:
    """Each package's static folder (its stylesheet: colour and preview), for STATICFILES_DIRS."""
    here = Path(__file__).resolve().parent
    return [here / name / "static" for name in NETWORKS]


def settings_from_env() -> dict:
    """Every package's settings read from the environment (its settings.py `from_env()`)."""
    values = {}
    for name in NETWORKS:
        values.update(import_module(f"channels.networks.{name}.settings").from_env())
    return values


def adapter_class(network: str):
    return spec(network).adapter_class()


def account_for(channel):
    from channels.networks.base import Account

    return Account(
        network=channel.network,
        remote_id=channel.remote_id,
        handle=channel.handle,
        server_url=channel.server_url,
        credentials=channel.get_credentials(),
        limits=channel.limits,
        save_credentials=channel.save_credentials,
        load_credentials=channel.load_credentials,
        lock_key=f"channel:{channel.code}",
    )


def adapter_for(channel):
    return adapter_class(channel.network)(account_for(channel))
