# One end of a veth pair in red, the other in blue, none left in the VM's namespace.
read -r red 2>/dev/null < /tmp/answers/red
read -r blue 2>/dev/null < /tmp/answers/blue
for pid in "$red" "$blue"; do
    if [ -z "$pid" ] || ! nsenter -t "$pid" -n true 2>/dev/null; then
        echo "A namespace is gone: do the first step again."
        exit 1
    fi
done
# A veth end shows as name@peer (or name@ifN once its peer is in another namespace).
if [ "$(ip -o link | grep -c '@')" != 0 ]; then
    echo "The VM's own namespace still holds an end of the cable: move it with ip link set ... netns."
    exit 1
fi
red_ends=$(nsenter -t "$red" -n ip -o link | grep -c '@')
blue_ends=$(nsenter -t "$blue" -n ip -o link | grep -c '@')
if [ "$red_ends" != 1 ] || [ "$blue_ends" != 1 ]; then
    echo "Each namespace should hold one end: red has $red_ends, blue has $blue_ends."
    exit 1
fi
