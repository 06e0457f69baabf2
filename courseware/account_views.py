from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, render

from . import throttle
from .forms import SignupForm


def signup(request):
    if request.user.is_authenticated:
        return redirect("courseware:home")
    form = SignupForm(request.POST or None)
    context = {"form": form}
    if request.method == "POST":
        address = throttle.client_address(request)
        if wait := throttle.wait_seconds(throttle.SIGNUPS_PER_ADDRESS, address):
            context["throttle_message"] = (
                "Too many accounts were created from your network in the last hour. "
                f"Try again in {throttle.describe_wait(wait)}; nothing was saved."
            )
            return render(request, "registration/signup.html", context, status=429)
        if form.is_valid():
            user = form.save()
            throttle.spend(throttle.SIGNUPS_PER_ADDRESS, address)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}! Your account is ready.")
            return redirect("courseware:home")
    return render(request, "registration/signup.html", context)
