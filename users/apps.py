from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class UsersConfig(AppConfig):
    default = True
    name = "users"
    verbose_name = "Users and metadata"

    def ready(self) -> None:
        from users.search import lookups

        lookups.register()


class SuperuserAdminConfig(admin_apps.AdminConfig):
    """Django admin, open to superusers only: staff work in the console."""

    default = False
    default_site = "users.admin_site.SuperuserAdminSite"
