"""The registry of network adapters, loaded on first use."""

from importlib import import_module

from channels.adapters.base import Account, Adapter

ADAPTERS = {
    "mastodon": "channels.adapters.mastodon.MastodonAdapter",
    "bluesky": "channels.adapters.bluesky.BlueskyAdapter",
    "threads": "channels.adapters.threads.ThreadsAdapter",
}


def adapter_class(network: str) -> type[Adapter]:
    module_name, _, class_name = ADAPTERS[network].rpartition(".")
    return getattr(import_module(module_name), class_name)


def account_for(channel) -> Account:
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


def adapter_for(channel) -> Adapter:
    return adapter_class(channel.network)(account_for(channel))
