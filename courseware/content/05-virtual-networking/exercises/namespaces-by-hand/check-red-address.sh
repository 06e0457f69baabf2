# red's loopback is up and holds 10.99.0.1; the VM's own namespace does not.
read -r red 2>/dev/null < /tmp/answers/red
if [ -z "$red" ] || ! nsenter -t "$red" -n true 2>/dev/null; then
    echo "The red namespace is gone: do the first step again."
    exit 1
fi
if ! nsenter -t "$red" -n ip link show lo | grep -q 'UP'; then
    echo "lo in red is still down."
    exit 1
fi
if ! nsenter -t "$red" -n ip addr show dev lo | grep -q 'inet 10\.99\.0\.1/'; then
    echo "red has no address 10.99.0.1 yet."
    exit 1
fi
if ip addr | grep -q 'inet 10\.99\.0\.1/'; then
    echo "10.99.0.1 is in the VM's own namespace too: delete it there (ip addr del 10.99.0.1/32 dev lo)."
    exit 1
fi
