# The guest's four answers, each compared with what the guest itself reports.
for name in kernel pid1 rootfs memory; do
    if [ ! -s "/tmp/answers/$name" ]; then
        echo "No answer yet in the VM: /tmp/answers/$name is missing or empty."
        exit 1
    fi
done
read -r kernel < /tmp/answers/kernel
if [ "$kernel" != "$(uname -r)" ]; then
    echo "The VM's /tmp/answers/kernel holds '$kernel', not the guest's uname -r."
    exit 1
fi
read -r pid1 < /tmp/answers/pid1
read -r name < /proc/1/comm
if [ "$pid1" != "$name" ]; then
    echo "The VM's /tmp/answers/pid1 holds '$pid1', not the name of the guest's PID 1."
    exit 1
fi
read -r rootfs < /tmp/answers/rootfs
if [ "$rootfs" != "$(awk '$2 == "/" {t = $3} END {print t}' /proc/mounts)" ]; then
    echo "The VM's /tmp/answers/rootfs holds '$rootfs', not the type of the guest's /."
    exit 1
fi
read -r memory < /tmp/answers/memory
total=$(free -m | awk '/^Mem:/ {print $2}')
case "$memory" in
    '' | *[!0-9]*)
        echo "The VM's /tmp/answers/memory holds '$memory'; write the number only, in MiB."
        exit 1
        ;;
esac
if [ "$memory" -lt $((total - 1)) ] || [ "$memory" -gt $((total + 1)) ]; then
    echo "The VM's /tmp/answers/memory holds $memory, not the guest's Mem: total."
    exit 1
fi
