"""Building requests to the Misskey adapter as the publishing engine does, and images to attach."""

from PIL import Image

from channels.networks.base import MediaItem, PartContent, PartRequest, PostOptions, RemoteRef


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

    def publish(self, adapter, index=0) -> RemoteRef:
        """One attempt as the engine makes it: an earlier checkpoint means asking find_published first."""
        if self.state:
            found = adapter.find_published(self.request(index))
            if found is not None:
                return found
        return adapter.publish_part(self.request(index))


def image(tmp_path, name="photo.png", alt="A teal square", size=(16, 12)) -> MediaItem:
    path = tmp_path / name
    Image.new("RGB", size, "teal").save(path)
    return MediaItem(path=str(path), mime_type="image/png", alt_text=alt, size=path.stat().st_size)
