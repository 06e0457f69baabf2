# The answer must be the name of PID 1 in this PID namespace.
if [ ! -s /tmp/answers/pid1 ]; then
    echo "No answer yet: /tmp/answers/pid1 is missing or empty."
    exit 1
fi
read -r answer < /tmp/answers/pid1
read -r name < /proc/1/comm
if [ "$answer" != "$name" ]; then
    echo "/tmp/answers/pid1 holds '$answer'; PID 1 here has another name (see /proc/1/comm)."
    exit 1
fi
