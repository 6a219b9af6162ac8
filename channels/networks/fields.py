"""Field types shared by the REST API's schemas and the networks' own API shapes."""

from typing import Annotated

from pydantic import AfterValidator, StringConstraints


def _clean_text(value: str) -> str:
    # PostgreSQL cannot store NUL characters, and lone surrogates cannot be encoded at all.
    if "\x00" in value:
        raise ValueError("Text must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Text must be valid Unicode.") from None
    return value


def text(max_length: int, min_length: int = 0):
    return Annotated[
        str, StringConstraints(max_length=max_length, min_length=min_length), AfterValidator(_clean_text)
    ]
