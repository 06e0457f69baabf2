import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.conftest import PASSWORD
from virtlab.roles import is_instructor

User = get_user_model()


@pytest.mark.django_db
def test_signup_creates_a_student_and_logs_in(client):
    response = client.post(
        reverse("signup"),
        {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert not is_instructor(user)
    assert client.get(reverse("courseware:home")).context["user"] == user


@pytest.mark.django_db
def test_signup_rejects_weak_password_and_creates_nothing(client):
    response = client.post(
        reverse("signup"), {"username": "weak", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "too short" in body and "entirely numeric" in body
    assert not User.objects.filter(username="weak").exists()


def test_login_logout_and_password_change(client, student):
    response = client.post(reverse("login"), {"username": "stu", "password": PASSWORD})
    assert response.status_code == 302
    new = "another-long-passphrase-77"
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    student.refresh_from_db()
    assert student.check_password(new)
    client.post(reverse("logout"))
    assert not client.get("/").context["user"].is_authenticated


def test_instructor_pages_permissions(client, student_client, instructor_client, course):
    url = reverse("courseware:teach")
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("login"))
    assert student_client.get(url).status_code == 403
    response = instructor_client.get(url)
    assert response.status_code == 200 and "Instructor overview" in response.content.decode()


def test_make_instructor_command(student, capsys):
    call_command("make_instructor", "stu")
    assert is_instructor(User.objects.get(pk=student.pk))
    call_command("make_instructor", "stu")
    assert "already" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no user called"):
        call_command("make_instructor", "ghost")


@pytest.mark.django_db
def test_demo_users_only_when_there_are_none(capsys):
    call_command("create_demo_users")
    out = capsys.readouterr().out
    assert "instructor" in out and "student" in out
    assert "manage.py changepassword" in out.splitlines()[-1]  # how to reset, said last
    assert is_instructor(User.objects.get(username="instructor"))
    assert not is_instructor(User.objects.get(username="student"))
    call_command("create_demo_users")
    assert capsys.readouterr().out == "" and User.objects.count() == 2


@pytest.mark.django_db
def test_superuser_counts_as_instructor():
    admin = User.objects.create_superuser("root", password=PASSWORD)
    assert is_instructor(admin)
