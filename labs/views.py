from django.http import Http404
from django.shortcuts import render


def catalogue(request):
    return render(request, "labs/catalogue.html", {"labs": []})


def lab_detail(request, slug: str):
    raise Http404("No such lab.")
