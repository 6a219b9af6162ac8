"""The body of a post for the API's posts endpoints, as the posts tests send it."""


def body(channels, *texts, **fields):
    return {"channels": [str(c.code) for c in channels], "parts": [{"text": t} for t in texts], **fields}
