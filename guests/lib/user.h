/* Running a function in ring 3 (32-bit guests): heavy loops live there because this host's KVM runs ring-0
 * code in a slow software emulator while ring-3 code runs natively. */
#ifndef GUEST_USER_H
#define GUEST_USER_H
#include "rt.h"
#define USER_RETURN_VECTOR 0x80 /* user code ends with int $0x80, EAX = result (gate DPL 3) */
/* Needs trap_init() first; installs the TSS and the 0x80 gate on first use. Returns fn(arg). */
uint32_t run_user(uint32_t (*fn)(uint32_t), uint32_t arg);
#endif
