"""What the Bluesky tests share: a stand-in for a delivery part, and media files to post."""

from PIL import Image

from channels.models import Channel
from channels.networks.base import MediaItem, PartContent, PartRequest, PostOptions, RemoteRef

CREATE = "com.atproto.repo.createRecord"


class Delivery:
    """Stands in for a delivery part: keeps what the adapter checkpoints, as the caller persists it."""

    def __init__(self, text="", media=None, *, options=None, reply_to=None, root=None, index=0):
        self.part = PartContent(text=text, media=media or [])
        self.options = options or PostOptions(language="en")
        self.reply_to, self.root, self.index = reply_to, root, index
        self.state: dict = {}
        self.checkpoints: list[dict] = []

    def request(self) -> PartRequest:
        return PartRequest(
            key=f"delivery-1-part-{self.index}",
            index=self.index,
            part=self.part,
            options=self.options,
            reply_to=self.reply_to,
            root=self.root,
            state=dict(self.state),
            checkpoint=self._checkpoint,
        )

    def _checkpoint(self, state):
        self.checkpoints.append(dict(state))
        self.state = dict(state)


def publish(channel, text="", media=None, **kwargs) -> RemoteRef:
    return channel.adapter().publish_part(Delivery(text, media, **kwargs).request())


def retry(channel, delivery: Delivery) -> RemoteRef:
    """What the engine does on a retry of a checkpointed part: ask, and publish only if not found."""
    adapter = fresh(channel).adapter()
    return adapter.find_published(delivery.request()) or adapter.publish_part(delivery.request())


def image_file(tmp_path, name, size=(640, 480), mode="RGB", fmt="PNG", color=(200, 40, 40), **save) -> str:
    path = tmp_path / name
    Image.new(mode, size, color).save(path, fmt, **save)
    return str(path)


def media(path, mime="image/png", alt="A red square"):
    return MediaItem(path=path, mime_type=mime, alt_text=alt)


def fresh(channel) -> Channel:
    return Channel.objects.get(pk=channel.pk)
