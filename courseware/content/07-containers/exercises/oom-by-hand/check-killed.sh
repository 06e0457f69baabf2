# The answer must name the process in the kernel log's last "Killed process" line.
if [ ! -s /tmp/answers/killed ]; then
    echo "No answer yet: /tmp/answers/killed is missing or empty."
    exit 1
fi
read -r answer < /tmp/answers/killed
name=$(dmesg | sed -n 's/.*Killed process [0-9]* (\([^)]*\)).*/\1/p' | tail -n 1)
if [ -z "$name" ]; then
    echo "The kernel log names no killed process yet: do the previous step first."
    exit 1
fi
if [ "$answer" != "$name" ]; then
    echo "/tmp/answers/killed holds '$answer'; the kernel log names another process."
    exit 1
fi
