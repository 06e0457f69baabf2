/*
 * vl-tty PROGRAM [ARGS...]: run PROGRAM as a new session whose controlling terminal
 * is its stdin, with the keyboard signals back at their defaults.
 *
 * The guest starts a student's shell on its third serial port from a command of the
 * control channel, that is from a background job of a non-interactive shell. Such a
 * job starts with SIGINT and SIGQUIT ignored, an ignored signal stays ignored across
 * exec, and the interactive shell then passes that on to every command it runs: Ctrl-C
 * would stop nothing. busybox setsid -c gives the terminal but keeps the signals, so
 * this does both.
 *
 * Built with -nostdlib like vl-reseed.c: a few system calls, no C library.
 */

#define SYS_rt_sigaction 13
#define SYS_ioctl 16
#define SYS_execve 59
#define SYS_setsid 112
#define TIOCSCTTY 0x540E
#define SIG_DFL 0

struct kernel_sigaction {
    unsigned long handler;
    unsigned long flags;
    unsigned long restorer;
    unsigned long mask;
};

static long call4(long number, long a, long b, long c, long d)
{
    register long r10 __asm__("r10") = d;
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return result;
}

/* The stack at entry: argc, then argv's pointers and a NULL, then the environment's. */
int vl_main(long *stack)
{
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    char **envp = argv + argc + 1;
    /* SIGINT, SIGQUIT, SIGTSTP, SIGTTIN and SIGTTOU: what a terminal's keys and job
     * control send. */
    static const int keyboard[] = {2, 3, 20, 21, 22};
    struct kernel_sigaction defaults = {SIG_DFL, 0, 0, 0};
    unsigned i;

    if (argc < 2)
        return 2;
    for (i = 0; i < sizeof keyboard / sizeof keyboard[0]; i++)
        call4(SYS_rt_sigaction, keyboard[i], (long)&defaults, 0, sizeof defaults.mask);
    if (call4(SYS_setsid, 0, 0, 0, 0) < 0)
        return 3;
    /* 1: take the terminal even from a session that still holds it (a shell of an
     * earlier terminal on the same port); the guest runs this as root. */
    if (call4(SYS_ioctl, 0, TIOCSCTTY, 1, 0) < 0)
        return 4;
    call4(SYS_execve, (long)argv[1], (long)(argv + 1), (long)envp, 0);
    return 5; /* exec failed */
}

/* Entry: hand vl_main the stack as the kernel left it; its result is the exit status
 * (system call 60 is exit). */
__asm__(".globl _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call vl_main\n"
        "  mov %eax, %edi\n"
        "  mov $60, %eax\n"
        "  syscall\n");
