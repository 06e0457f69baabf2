# PID 2 of a booted kernel is its thread-spawning kernel thread.
if [ ! -s /tmp/answers/pid2 ]; then
    echo "No answer yet in the VM: /tmp/answers/pid2 is missing or empty."
    exit 1
fi
read -r answer < /tmp/answers/pid2
read -r name < /proc/2/comm
if [ "$answer" != "$name" ]; then
    echo "The VM's /tmp/answers/pid2 holds '$answer', not the name in /proc/2/comm."
    exit 1
fi
