# Blue reaches red over the cable, and red reaches blue.
read -r red 2>/dev/null < /tmp/answers/red
read -r blue 2>/dev/null < /tmp/answers/blue
for pid in "$red" "$blue"; do
    if [ -z "$pid" ] || ! nsenter -t "$pid" -n true 2>/dev/null; then
        echo "A namespace is gone: do the first step again."
        exit 1
    fi
done
if ! nsenter -t "$red" -n ip addr | grep -q 'inet 10\.99\.1\.1/24'; then
    echo "red has no address 10.99.1.1/24 on its end of the cable yet."
    exit 1
fi
if ! nsenter -t "$blue" -n ip addr | grep -q 'inet 10\.99\.1\.2/24'; then
    echo "blue has no address 10.99.1.2/24 on its end of the cable yet."
    exit 1
fi
# Two tries each: the first packet may wait for the neighbour's answer (ARP).
if ! nsenter -t "$blue" -n ping -c 2 -W 3 10.99.1.1 > /dev/null 2>&1; then
    echo "blue cannot reach 10.99.1.1 yet: are both ends up?"
    exit 1
fi
if ! nsenter -t "$red" -n ping -c 2 -W 3 10.99.1.2 > /dev/null 2>&1; then
    echo "red cannot reach 10.99.1.2 yet: are both ends up?"
    exit 1
fi
