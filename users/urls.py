from django.urls import path

from users.views.home import home
from users.views.user_detail import user_detail
from users.views.user_list import user_list

app_name = "users"

urlpatterns = [
    path("", home, name="home"),
    path("t/<slug:tenant>/users/", user_list, name="user_list"),
    path("t/<slug:tenant>/users/<str:user_id>/", user_detail, name="user_detail"),
]
