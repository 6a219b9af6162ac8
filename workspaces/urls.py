from django.urls import path

from workspaces import views

app_name = "workspaces"

# The workspace's home page, "workspaces:overview" (w/<slug>/), is the posts app's overview, added to
# this namespace by scheduler_project/urls.py.

urlpatterns = [
    path("", views.home, name="home"),
    path("workspaces/new/", views.create, name="create"),
    path("invite/<str:token>/", views.accept_invitation, name="accept-invitation"),
    path("w/<slug:slug>/settings/", views.settings_page, name="settings"),
    path("w/<slug:slug>/members/", views.members, name="members"),
    path("w/<slug:slug>/members/invite/", views.invite, name="invite"),
    path("w/<slug:slug>/members/<int:membership_id>/role/", views.change_role, name="change-role"),
    path("w/<slug:slug>/members/<int:membership_id>/remove/", views.remove_member, name="remove-member"),
    path(
        "w/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        views.revoke_invitation,
        name="revoke-invitation",
    ),
]
