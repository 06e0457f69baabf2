# Two live processes, each in a network namespace of its own (not the VM's).
root=$(readlink /proc/1/ns/net)
for name in red blue; do
    if [ ! -s "/tmp/answers/$name" ]; then
        echo "No answer yet: /tmp/answers/$name is missing or empty."
        exit 1
    fi
    read -r pid < "/tmp/answers/$name"
    ns=$(readlink "/proc/$pid/ns/net" 2>/dev/null)
    if [ -z "$ns" ]; then
        echo "No process $pid is running (from /tmp/answers/$name): start it again."
        exit 1
    fi
    if [ "$ns" = "$root" ]; then
        echo "Process $pid ($name) is in the VM's own network namespace: start it with unshare -n."
        exit 1
    fi
    eval "ns_$name=\$ns"
done
if [ "$ns_red" = "$ns_blue" ]; then
    echo "red and blue are the same namespace; start each with its own unshare -n."
    exit 1
fi
