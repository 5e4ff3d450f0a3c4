import pytest
from django.test import Client


@pytest.mark.django_db
def test_home_renders():
    assert Client().get("/").status_code == 200
