from django.urls import path

from kebu.accounts import views

app_name = "accounts"

urlpatterns = [
    path("2fa/", views.status, name="two-factor"),
    path("2fa/setup/", views.setup, name="two-factor-setup"),
    path("2fa/verify/", views.verify, name="two-factor-verify"),
    path("2fa/recovery-codes/", views.recovery_codes, name="recovery-codes"),
    path("2fa/disable/", views.disable, name="two-factor-disable"),
    path("password/", views.PasswordChangeView.as_view(), name="password-change"),
]
