/*
 * vl-reseed: make a guest restored from a snapshot stop sharing its random numbers
 * with every other guest restored from the same snapshot.
 *
 * A snapshot holds the kernel's random generator state. Every guest restored from it
 * would hand out the same /dev/urandom bytes until the kernel next reseeds on its own
 * (up to a minute later): the same TLS keys, the same UUIDs. This reads fresh bytes
 * the host sends (stdin, at most 256), mixes them into the entropy pool
 * (RNDADDENTROPY) and asks the kernel to reseed its generator now (RNDRESEEDCRNG).
 *
 * Built with -nostdlib: the guest has no C library, and the program is a few
 * system calls, so it carries its own entry point and system call wrapper.
 */

#define SYS_read 0
#define SYS_open 2
#define SYS_ioctl 16
#define O_WRONLY 1
/* _IOW('R', 0x03, int[2]) and _IO('R', 0x07) from <linux/random.h>. */
#define RNDADDENTROPY 0x40085203
#define RNDRESEEDCRNG 0x5207
#define SEED_MAX 256

struct pool_input {
    int entropy_bits;
    int size;
    unsigned char bytes[SEED_MAX];
};

static long call3(long number, long a, long b, long c)
{
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return result;
}

int vl_main(void)
{
    static struct pool_input input;
    long got;
    int fd;

    while (input.size < SEED_MAX) {
        got = call3(SYS_read, 0, (long)(input.bytes + input.size), SEED_MAX - input.size);
        if (got <= 0)
            break;
        input.size += (int)got;
    }
    if (input.size < 16)
        return 2; /* too little to be worth anything: say so by the exit status */
    fd = (int)call3(SYS_open, (long)"/dev/urandom", O_WRONLY, 0);
    if (fd < 0)
        return 3;
    /* The host sends hex: four bits of entropy per byte. */
    input.entropy_bits = input.size * 4;
    if (call3(SYS_ioctl, fd, RNDADDENTROPY, (long)&input) < 0)
        return 4;
    if (call3(SYS_ioctl, fd, RNDRESEEDCRNG, 0) < 0)
        return 5;
    return 0;
}

/* The process starts here with an aligned stack; vl_main's result is the exit status
 * (system call 60 is exit). */
__asm__(".globl _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  call vl_main\n"
        "  mov %eax, %edi\n"
        "  mov $60, %eax\n"
        "  syscall\n");
