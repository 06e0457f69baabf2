# The answer must be exactly this kernel's release.
if [ ! -s /tmp/answers/kernel ]; then
    echo "No answer yet: /tmp/answers/kernel is missing or empty."
    exit 1
fi
read -r answer < /tmp/answers/kernel
if [ "$answer" != "$(uname -r)" ]; then
    echo "/tmp/answers/kernel holds '$answer', which is not the release uname -r prints here."
    exit 1
fi
