"""Building requests to the Mastodon adapter as the publishing engine does, and media to attach."""

from PIL import Image

from channels.networks.base import Account, MediaItem, PartContent, PartRequest, PostOptions, RemoteRef
from channels.networks.mastodon.adapter import MastodonAdapter


def adapter_for(connected) -> MastodonAdapter:
    return MastodonAdapter(
        Account(
            network="mastodon",
            remote_id=connected.remote_id,
            handle=connected.handle,
            server_url=connected.server_url,
            credentials=connected.credentials,
            limits=connected.limits,
        )
    )


class Attempts:
    """What the publishing engine does with a part: persist checkpoints, rebuild the request each try."""

    def __init__(
        self, part: PartContent, options: PostOptions | None = None, key="delivery-1:0", reply_to=None
    ):
        self.part, self.options, self.key, self.reply_to = part, options or PostOptions(), key, reply_to
        self.state: dict = {}

    def request(self, index=0) -> PartRequest:
        return PartRequest(
            key=self.key,
            index=index,
            part=self.part,
            options=self.options,
            reply_to=self.reply_to,
            state=dict(self.state),
            checkpoint=self.state.update,
        )

    def publish(self, adapter: MastodonAdapter, index=0) -> RemoteRef:
        """One attempt as the engine makes it: an earlier checkpoint means asking find_published first."""
        if self.state:
            found = adapter.find_published(self.request(index))
            if found is not None:
                return found
        return adapter.publish_part(self.request(index))


def png(tmp_path, name="photo.png", size=(16, 12)) -> str:
    path = tmp_path / name
    Image.new("RGB", size, "teal").save(path)
    return str(path)


def image(tmp_path, name="photo.png", alt="A teal square") -> MediaItem:
    path = png(tmp_path, name)
    return MediaItem(path=path, mime_type="image/png", alt_text=alt, size=(tmp_path / name).stat().st_size)
