/**
 * The kernel command line of the ready-made Linux guests (the CLI's --linux, the virtio disk guest,
 * the tests and the web page): the serial console, no KASLR (tsvmm loads the kernel where it was
 * linked), quiet so the console stays readable, and tsc=reliable: the TSC of both backends runs at a constant
 * rate, while a busy host can make the timer-interrupt clock (jiffies) that would check it lag.
 * cryptomgr.notests skips the crypto self-tests: RSA and DH known-answer tests are ~0.75 billion guest
 * instructions (half the boot to the prompt on emu, mpihelp_*), and in real time on a slow host the X.509
 * certificate load gives up waiting for them (-ETIMEDOUT). no_timer_check (which Linux also sets itself
 * on KVM): check_timer() counts PIT ticks during a 40 ms busy wait, and on a loaded host an emulated PIT
 * (QEMU TCG's as well as emu's) misses it, so the timer was moved off IOAPIC pin 2 or the boot panicked
 * with "IO-APIC + timer doesn't work!".
 */
export const LINUX_GUEST_CMDLINE = 'console=ttyS0 nokaslr quiet tsc=reliable panic=-1 cryptomgr.notests no_timer_check';
