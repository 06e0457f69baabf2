# The kernel killed at least one process of "lab" at its memory limit.
events=/sys/fs/cgroup/lab/memory.events
if [ ! -f "$events" ]; then
    echo "There is no $events: is the group there, with the memory controller on?"
    exit 1
fi
kills=$(awk '$1 == "oom_kill" {print $2}' "$events")
if [ "${kills:-0}" -lt 1 ]; then
    echo "No process in lab has been OOM-killed yet (oom_kill is ${kills:-0} in memory.events)."
    exit 1
fi
