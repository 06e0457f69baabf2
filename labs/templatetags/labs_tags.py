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


@register.filter
def params_text(run) -> str:
    """A run's parameters as people read them: "Guest memory 128 MiB, Include the VM yes"."""
    lab = get_lab(run.lab)
    params = {p.name: p for p in lab.params} if lab else {}
    parts = []
    for name, value in (run.params or {}).items():
        param = params.get(name)
        if param is None:
            parts.append(f"{name} {value}")
        elif param.is_switch:
            parts.append(f"{param.label}: {'yes' if value else 'no'}")
        else:
            unit = f" {param.unit}" if param.unit else ""
            parts.append(f"{param.label} {value}{unit}")
    return ", ".join(parts)
