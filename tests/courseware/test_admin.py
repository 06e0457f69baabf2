import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_every_admin_changelist_opens(course):
    superuser = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client = Client()
    client.force_login(superuser)
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
