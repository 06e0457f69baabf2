from django import template

from labs.experiments import get_lab

register = template.Library()


@register.filter
def lab_title(slug: str) -> str:
    """A lab's title from its slug (the slug itself if no such lab is installed)."""
    lab = get_lab(slug)
    return lab.title if lab else slug


@register.filter
def get_item(mapping: dict, key: str):
    """``mapping[key]`` in a template (None when absent)."""
    return mapping.get(key) if hasattr(mapping, "get") else None
