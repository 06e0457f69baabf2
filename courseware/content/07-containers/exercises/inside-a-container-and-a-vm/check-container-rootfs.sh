# The answer must be the type of the filesystem mounted at / (the last mount there wins).
if [ ! -s /tmp/answers/rootfs ]; then
    echo "No answer yet: /tmp/answers/rootfs is missing or empty."
    exit 1
fi
read -r answer < /tmp/answers/rootfs
type=$(awk '$2 == "/" {t = $3} END {print t}' /proc/mounts)
if [ "$answer" != "$type" ]; then
    echo "/tmp/answers/rootfs holds '$answer'; the third column of the / line says otherwise."
    exit 1
fi
