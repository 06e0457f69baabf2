"""The check every lab test ends with: nothing named after the run is left on the host."""

from labs.sandbox import reaper


def nothing_left(sandbox_id: int) -> bool:
    return not any(reaper.inventory(only={sandbox_id}).values())
