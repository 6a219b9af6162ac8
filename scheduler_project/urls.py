from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from scheduler_project.health import healthz
from workspaces.views import signup


class SiteURLPasswordResetView(auth_views.PasswordResetView):
    def form_valid(self, form):
        form.save(
            domain_override=urlsplit(settings.SITE_URL).netloc,
            use_https=settings.SITE_URL.startswith("https"),
            token_generator=self.token_generator,
            email_template_name=self.email_template_name,
            subject_template_name=self.subject_template_name,
            request=self.request,
        )
        return super(auth_views.PasswordResetView, self).form_valid(form)


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {"signup_open": settings.SIGNUP == "open"}


handler403 = "scheduler_project.errors.permission_denied"
handler500 = "scheduler_project.errors.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/django_rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The link's host comes from SITE_URL, never from the request's Host header.
    path(
        "accounts/password-reset/",
        SiteURLPasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("", include("workspaces.urls")),
    path("", include("channels.urls")),
    path("", include("posts.urls")),
    path("", include("api.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
