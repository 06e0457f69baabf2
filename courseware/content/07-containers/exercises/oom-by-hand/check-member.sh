# At least one process in the group "lab".
procs=/sys/fs/cgroup/lab/cgroup.procs
if [ ! -f "$procs" ]; then
    echo "There is no group /sys/fs/cgroup/lab yet."
    exit 1
fi
if [ -z "$(cat "$procs")" ]; then
    echo "No process is in /sys/fs/cgroup/lab yet (its cgroup.procs is empty)."
    exit 1
fi
