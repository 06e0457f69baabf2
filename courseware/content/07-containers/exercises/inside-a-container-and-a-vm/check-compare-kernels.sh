# The VM's release, copied into the container: a release, and not this kernel's.
if [ ! -s /tmp/answers/vm-kernel ]; then
    echo "No answer yet: /tmp/answers/vm-kernel is missing or empty (in the container)."
    exit 1
fi
read -r answer < /tmp/answers/vm-kernel
case "$answer" in
    [0-9]*.[0-9]*) ;;
    *)
        echo "'$answer' does not look like a kernel release (they start like 6.1.0)."
        exit 1
        ;;
esac
if [ "$answer" = "$(uname -r)" ]; then
    echo "That is the container's own kernel release; copy the one the VM printed."
    exit 1
fi
