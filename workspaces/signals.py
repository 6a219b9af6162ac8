"""What happens to a workspace that other apps act on: they connect here; workspaces imports none."""

from django.dispatch import Signal

# A member left a workspace (removed, or leaving). Sent with workspace= and user= inside the
# transaction that deletes the membership, so a receiver's changes commit or roll back with it. A
# receiver may return a sentence for the person who removed the member (shown after the removal), or
# None.
member_left = Signal()
