"""A part request as the engine builds it, and media items, for the Threads adapter's tests."""

from channels.networks.base import MediaItem, PartContent, PartRequest, PostOptions


class Part:
    """A PartRequest whose checkpoints are kept, as the engine would persist them."""

    def __init__(self, text="Hello Threads", media=(), options=None, reply_to=None, index=0):
        self.state = {}
        self.checkpoints = []
        self.text, self.media, self.index = text, list(media), index
        self.options = options or PostOptions()
        self.reply_to = reply_to

    def request(self) -> PartRequest:
        def checkpoint(state):
            self.checkpoints.append(dict(state))
            self.state = dict(state)

        return PartRequest(
            key=f"delivery-1:{self.index}",
            index=self.index,
            part=PartContent(self.text, self.media),
            options=self.options,
            reply_to=self.reply_to,
            state=dict(self.state),
            checkpoint=checkpoint,
        )


def image(name="cat.jpg", alt="A cat asleep on a keyboard", url=None, mime="image/jpeg", size=200_000):
    return MediaItem(
        path=f"/tmp/{name}",
        mime_type=mime,
        alt_text=alt,
        size=size,
        public_url=url if url is not None else f"https://media.example.org/signed/{name}?sig=abc",
    )
