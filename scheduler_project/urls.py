from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from posts.views import overview
from scheduler_project.health import healthz
from workspaces import throttle
from workspaces import urls as workspaces_urls
from workspaces.views import signup


def _refused(view, form, refusal):
    """HTTP 429: the form again, with the sentence saying how long to wait."""
    form = throttle.refused_form(form, refusal.sentence)
    response = view.render_to_response(view.get_context_data(form=form), status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


class SiteURLPasswordResetView(auth_views.PasswordResetView):
    def post(self, request, *args, **kwargs):
        # Every request sends an email (when the address is known): limited per address asked for
        # and per client, before anything is looked up.
        email = request.POST.get("email", "")
        refusal = throttle.password_reset_refusal(request, email)
        if refusal is not None:
            return _refused(self, self.get_form(), refusal)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        throttle.password_reset_requested(self.request, form.cleaned_data["email"])
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

    def post(self, request, *args, **kwargs):
        # Checked before the form is validated, which hashes the password (the expensive part).
        refusal = throttle.login_refusal(request, request.POST.get("username", ""))
        if refusal is not None:
            return _refused(self, self.get_form(), refusal)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        throttle.login_succeeded(self.request, form.cleaned_data["username"])
        return super().form_valid(form)

    def form_invalid(self, form):
        if form.data.get("username"):
            throttle.login_failed(self.request, form.data["username"])
        return super().form_invalid(form)

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
    # The workspace's home page (the posts app's overview) keeps its name in the workspaces namespace,
    # "workspaces:overview", next to the workspaces app's own pages.
    path("", include((workspaces_urls.urlpatterns + overview.urlpatterns, workspaces_urls.app_name))),
    path("", include("channels.urls")),
    path("", include("posts.urls")),
    path("", include("api.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
