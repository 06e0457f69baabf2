# A group "lab" whose memory.max is a limit between 4 and 32 MiB.
group=/sys/fs/cgroup/lab
if [ ! -d "$group" ]; then
    echo "There is no group $group yet."
    exit 1
fi
if [ ! -f "$group/memory.max" ]; then
    echo "$group has no memory.max: turn on +memory in the root's cgroup.subtree_control first."
    exit 1
fi
read -r limit < "$group/memory.max"
if [ "$limit" = max ]; then
    echo "$group/memory.max still says max: write a limit into it."
    exit 1
fi
if [ "$limit" -lt $((4 << 20)) ] || [ "$limit" -gt $((32 << 20)) ]; then
    echo "The limit is $limit bytes; use one from 4 to 32 MiB (for example 20M)."
    exit 1
fi
