# blue is set up like red, cannot reach red, and the student saved what ping said.
read -r red 2>/dev/null < /tmp/answers/red
read -r blue 2>/dev/null < /tmp/answers/blue
for pid in "$red" "$blue"; do
    if [ -z "$pid" ] || ! nsenter -t "$pid" -n true 2>/dev/null; then
        echo "A namespace is gone: do the first step again."
        exit 1
    fi
done
if ! nsenter -t "$blue" -n ip link show lo | grep -q 'UP'; then
    echo "lo in blue is still down."
    exit 1
fi
if ! nsenter -t "$blue" -n ip addr show dev lo | grep -q 'inet 10\.99\.0\.2/'; then
    echo "blue has no address 10.99.0.2 yet."
    exit 1
fi
if nsenter -t "$blue" -n ping -c 1 -W 1 10.99.0.1 > /dev/null 2>&1; then
    echo "blue can reach 10.99.0.1: is that address in blue (or the VM) as well as in red?"
    exit 1
fi
if ! grep -qi 'unreachable' /tmp/answers/blue-ping 2>/dev/null; then
    echo "/tmp/answers/blue-ping does not hold ping's 'Network unreachable' from blue yet."
    exit 1
fi
