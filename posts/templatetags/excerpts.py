"""{{ text|excerpt:90 }}: the start of a text cut after a whole word (posts.models.excerpt)."""

from django import template

from posts.models import excerpt as cut

register = template.Library()


@register.filter
def excerpt(text, length=80):
    return cut(text, int(length))
