from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils.timezone import now

from posts.media import remove_unused
from posts.models import Media, Post, PostPart


def upload(workspace, name, age):
    media = Media(workspace=workspace, mime_type="image/png", size=3)
    media.file.save(name, ContentFile(b"png"), save=False)
    media.created = now() - age
    media.save()
    return media


def test_it_removes_old_uploads_that_never_joined_a_post(cast, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    stale = upload(cast.workspace, "stale.png", timedelta(days=2))
    fresh = upload(cast.workspace, "fresh.png", timedelta(hours=1))
    used = upload(cast.workspace, "used.png", timedelta(days=30))
    part = PostPart.objects.create(post=Post.objects.create(workspace=cast.workspace), index=0, text="x")
    Media.objects.filter(pk=used.pk).update(part=part)
    stale_path = stale.file.path

    assert remove_unused() == 1
    assert set(Media.objects.values_list("pk", flat=True)) == {fresh.pk, used.pk}
    assert not (tmp_path / stale_path).exists()
    assert (tmp_path / used.file.path).exists()
