# A cgroup2 filesystem mounted at /sys/fs/cgroup that offers the memory controller.
if ! awk '$2 == "/sys/fs/cgroup" && $3 == "cgroup2" {found = 1} END {exit !found}' /proc/mounts; then
    echo "Nothing of type cgroup2 is mounted at /sys/fs/cgroup yet."
    exit 1
fi
if ! grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
    echo "The cgroup tree is mounted but offers no memory controller."
    exit 1
fi
