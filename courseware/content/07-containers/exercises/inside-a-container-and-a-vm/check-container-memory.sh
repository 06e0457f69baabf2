# The answer must be the Mem: total free -m prints (1 MiB either way for rounding).
if [ ! -s /tmp/answers/memory ]; then
    echo "No answer yet: /tmp/answers/memory is missing or empty."
    exit 1
fi
read -r answer < /tmp/answers/memory
total=$(free -m | awk '/^Mem:/ {print $2}')
case "$answer" in
    '' | *[!0-9]*)
        echo "/tmp/answers/memory holds '$answer'; write the number only, in MiB."
        exit 1
        ;;
esac
if [ "$answer" -lt $((total - 1)) ] || [ "$answer" -gt $((total + 1)) ]; then
    echo "/tmp/answers/memory holds $answer; the total on free -m's Mem: line is another number."
    exit 1
fi
