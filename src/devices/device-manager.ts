import type { IrqLine } from '../cpu/irq.js';
import type { VmStop } from '../cpu/vm.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { FW_CFG_DMA_LEN, FW_CFG_DMA_PORT, FW_CFG_IO_LEN, FW_CFG_SELECTOR_PORT, FwCfg } from './fw_cfg/fw-cfg.js';
import { CMOS_INDEX_PORT, CmosRtc, RTC_IRQ, type RtcTimers } from './legacy/cmos-rtc.js';
import { DEBUG_EXIT_DEFAULT_SIZE, DEBUG_EXIT_PORT, DebugExit } from './legacy/debug-exit.js';
import { BOCHS_POWEROFF_PORT, PowerOffPort } from './legacy/power-off.js';
import { AcpiPm1, PM1_DEFAULT_BASE, PM1_PORTS } from './acpi/pm1.js';
import { AcpiPmTimer, PM_TIMER_PORTS } from './acpi/pm-timer.js';
import { PciBus } from './pci/pci-bus.js';
import { PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_PORTS, PciHostBridge, createHostBridgeFunction } from './pci/pci-host-bridge.js';
import { Bus } from '../cpu/bus.js';
import { POST_CODE_PORT, PostCodePort } from './legacy/post-code.js';
import type { EventChannels } from '../cpu/event-channels.js';
import { I8042, I8042_AUX_IRQ, I8042_COMMAND_PORT, I8042_DATA_PORT, I8042_KBD_IRQ } from './legacy/i8042.js';
import { ResetControl } from './legacy/reset-control.js';
import type { SerialSink } from './legacy/serial-sink.js';
import { COM1_BASE, COM1_IRQ, UART_REGISTER_COUNT, Uart16550a } from './legacy/uart-16550a.js';

/** What the legacy devices need from a VM (a `Vm` satisfies it). */
export interface LegacyDeviceTarget {
  readonly pio: Bus;
  /** MMIO bus for PCI BARs (a private bus when absent, e.g. in unit tests). */
  readonly mmio?: Bus;
  irqLine(gsi: number): IrqLine;
  requestStop(stop: VmStop): void;
  /** Guest RAM; when present fw_cfg offers its DMA interface. */
  readonly memory?: GuestMemory;
  /** The VM's event channels; when present the POST code port's writes are coalesced. */
  readonly events?: EventChannels;
}

export interface LegacyDeviceOptions {
  readonly memBytes: number;
  readonly cpus: number;
  readonly cmdline?: string;
  /** Where the boot loader placed the command line (fw_cfg FW_CFG_CMDLINE_ADDR). */
  readonly cmdlineAddr?: number;
  /** RAM ceiling for fw_cfg "etc/reserved-memory-end" (default: memBytes, no entry). */
  readonly maxMemBytes?: number;
  readonly maxCpus?: number;
  /** COM1 output. */
  readonly serial: SerialSink;
  /** The guest's time in ns for the ACPI PM timer (default: host monotonic time, as KVM guests see). */
  readonly guestClockNs?: () => number;
  /** Wall clock for the RTC in ms since the epoch (default Date.now). */
  readonly clock?: () => number;
  /** Timers for RTC interrupts (default: global setTimeout, unref'd). */
  readonly rtcTimers?: RtcTimers;
  /** isa-debug-exit width in ports (QEMU iosize), 1 by default; 2/4-byte writes at 0xf4 work either way. */
  readonly debugExitSize?: 1 | 2 | 4;
  /** Offer fw_cfg DMA when the target has memory (default true). */
  readonly fwCfgDma?: boolean;
}

/** The SCI's ISA IRQ, as the FADT names it (level-triggered, active high, like QEMU's PIIX4 PM). */
export const ACPI_SCI_IRQ = 9;
/** The ACPI PM timer after the PM1 blocks, as on the PIIX4 (PM base + 8). */
export const PM_TIMER_PORT = PM1_DEFAULT_BASE + 8;

/** Handles to the installed devices, for the host side (serial input, stats, teardown). */
export interface LegacyDevices {
  readonly uart: Uart16550a;
  readonly i8042: I8042;
  readonly resetControl: ResetControl;
  readonly debugExit: DebugExit;
  readonly rtc: CmosRtc;
  readonly fwCfg: FwCfg;
  readonly powerOff: PowerOffPort;
  /** ACPI PM1a event and control blocks (SCI on IRQ 9, power-off through SLP_EN). */
  readonly pm1: AcpiPm1;
  readonly pmTimer: AcpiPmTimer;
  readonly pciHost: PciHostBridge;
  readonly pci: PciBus;
  readonly postCode: PostCodePort;
  /** Stops host timers (RTC); call on VM teardown. */
  destroy(): void;
}

/**
 * Creates the PC legacy devices and registers them on the port bus, in this order:
 * COM1 16550A (0x3f8-0x3ff, IRQ 4), i8042 (0x60 and 0x64, IRQ 1/12), PCI host bridge
 * (0xcf8-0xcff) with the reset control at 0xcf9, isa-debug-exit (0xf4), CMOS/RTC (0x70-0x71,
 * IRQ 8), fw_cfg (0x510-0x511, DMA 0x514-0x51b), POST code port 0x80, ACPI PM1a blocks
 * (0x600-0x605, SCI IRQ 9), the ACPI PM timer (0x608-0x60b) and the Bochs power-off port 0xb004. Nothing
 * happens at import time; a port already taken throws the Bus's overlap error.
 */
export function installLegacyDevices(target: LegacyDeviceTarget, opts: LegacyDeviceOptions): LegacyDevices {
  const pio = target.pio;
  const vm = { requestStop: (stop: VmStop) => target.requestStop(stop) };

  const uart = new Uart16550a(target.irqLine(COM1_IRQ), opts.serial);
  pio.register(COM1_BASE, UART_REGISTER_COUNT, uart, 'com1 (16550a)');

  const i8042 = new I8042(vm, { kbd: target.irqLine(I8042_KBD_IRQ), aux: target.irqLine(I8042_AUX_IRQ) });
  pio.register(I8042_DATA_PORT, 1, i8042.dataPort, 'i8042 data');
  pio.register(I8042_COMMAND_PORT, 1, i8042.commandPort, 'i8042 status/command');

  // The PCI host bridge owns 0xcf8-0xcff and hands byte accesses at 0xcf9 to the reset control.
  const resetControl = new ResetControl(vm);
  const pci = new PciBus(pio, target.mmio ?? new Bus('mmio'), (gsi) => target.irqLine(gsi));
  pci.attach(0, 0, createHostBridgeFunction());
  const pciHost = new PciHostBridge(pci, resetControl);
  pio.register(PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_PORTS, pciHost, 'pci host bridge (0xcf8-0xcff, reset control at 0xcf9)');

  const debugExit = new DebugExit(vm);
  pio.register(DEBUG_EXIT_PORT, opts.debugExitSize ?? DEBUG_EXIT_DEFAULT_SIZE, debugExit, 'isa-debug-exit');

  const rtc = new CmosRtc({
    memBytes: opts.memBytes,
    cpus: opts.cpus,
    irq: target.irqLine(RTC_IRQ),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.rtcTimers ? { timers: opts.rtcTimers } : {}),
  });
  pio.register(CMOS_INDEX_PORT, 2, rtc, 'cmos/rtc');

  const memory = opts.fwCfgDma === false ? undefined : target.memory;
  const fwCfg = new FwCfg({
    memBytes: opts.memBytes,
    cpus: opts.cpus,
    cmdline: opts.cmdline ?? '',
    ...(opts.cmdlineAddr !== undefined ? { cmdlineAddr: opts.cmdlineAddr } : {}),
    ...(opts.maxMemBytes !== undefined ? { maxMemBytes: opts.maxMemBytes } : {}),
    ...(opts.maxCpus !== undefined ? { maxCpus: opts.maxCpus } : {}),
    ...(memory ? { memory } : {}),
  });
  pio.register(FW_CFG_SELECTOR_PORT, FW_CFG_IO_LEN, fwCfg.ioPort, 'fw_cfg');
  if (fwCfg.dmaEnabled) pio.register(FW_CFG_DMA_PORT, FW_CFG_DMA_LEN, fwCfg.dmaPort, 'fw_cfg dma');

  const postCode = new PostCodePort();
  pio.register(POST_CODE_PORT, 1, postCode, 'post code');
  // Linux writes port 0x80 for every outb_p (io_delay) and nothing reads it back: the writes can wait in
  // the coalesced ring (on kvm, no exit each), and any other access flushes them first.
  if (target.events !== undefined) target.events.coalesce({ space: 'pio', address: POST_CODE_PORT, size: 1 });

  const pm1 = new AcpiPm1(vm, target.irqLine(ACPI_SCI_IRQ));
  pio.register(PM1_DEFAULT_BASE, PM1_PORTS, pm1, 'acpi pm1a event/control (0x600-0x605)');
  const pmTimer = new AcpiPmTimer(opts.guestClockNs ?? (() => performance.now() * 1e6));
  pio.register(PM_TIMER_PORT, PM_TIMER_PORTS, pmTimer, 'acpi pm timer (0x608-0x60b)');
  const powerOff = new PowerOffPort(vm);
  pio.register(BOCHS_POWEROFF_PORT, 2, powerOff, 'bochs power-off');

  return { uart, i8042, resetControl, debugExit, rtc, fwCfg, powerOff, pm1, pmTimer, pciHost, pci, postCode, destroy: () => rtc.destroy() };
}
