import CLibUSB
import CPlatform
import Dispatch
import Log
import OSThreads
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One libusb context and the thread that runs its events.
///
/// All transfer completions run on that one thread, which can be pinned to a CPU
/// (design brief: the USB thread on its own core, away from network and crypto work).
/// Completion handlers must therefore be short and never block: they hand results on.
public final class USBContext: @unchecked Sendable {
    let context: OpaquePointer
    private let state = EventLoopState()
    private var thread: OSThread?

    /// Where the event thread runs, for logs and tests.
    public struct EventThreadInfo: Sendable, Equatable {
        /// Kernel thread id (/proc/<pid>/task/<tid>).
        public let threadID: Int32
        /// CPUs the thread may run on, as a bit mask (bit n = CPU n).
        public let affinity: UInt64
    }

    /// What the event thread shares with the rest of the process.
    private final class EventLoopState: Sendable {
        let running = Atomic<Bool>(true)
        /// Objects libusb holds unretained pointers to (hotplug handlers).
        let retained = Mutex<[any Sendable & AnyObject]>([])
        let info = Mutex<EventThreadInfo?>(nil)
        /// Told when `info` is set (and the pinning tried).
        let started = Monitor()
        let pinError = Mutex<Int32>(0)
        /// When the loop last went round (monotonic milliseconds): the service's watchdog
        /// stops reassuring systemd when this gets old.
        let heartbeat = Atomic<Int>(0)
        /// Set by `stallEventThreadForTesting()`: the loop stops going round.
        let stalled = Atomic<Bool>(false)
    }

    /// A libusb pointer (the context, a device handle) handed to another thread. libusb's
    /// contexts and handles are thread-safe; the pointer itself is only read.
    private struct LibUSBPointer: @unchecked Sendable { let raw: OpaquePointer }

    /// Where handles let go of on the event thread are closed (`close`), in order.
    private let closer = DispatchQueue(label: "usbp2p-usb-close")

    /// Opens libusb and starts the event thread, pinned to `cpu` if given.
    public init(eventThreadCPU cpu: Int?, logger: Logger) throws(USBError) {
        var raw: OpaquePointer?
        try check(libusb_init(&raw), "libusb_init")
        context = raw!
        let pointer = LibUSBPointer(raw: raw!)
        let state = self.state
        do throws(ThreadStartError) {
            thread = try OSThread.start(name: "usbp2p-usb") {
                if let cpu { state.pinError.withLock { $0 = usbp2p_pin_current_thread(Int32(cpu)) } }
                state.info.withLock {
                    $0 = EventThreadInfo(
                        threadID: usbp2p_current_thread_id(), affinity: usbp2p_current_thread_affinity())
                }
                state.started.withLock { state.started.broadcast() }
                var timeout = timeval(tv_sec: 1, tv_usec: 0)
                while state.running.load(ordering: .acquiring) {
                    // Once per round, so by the coarse clock: no system call (see its note).
                    state.heartbeat.store(Int(coarseMonotonicSeconds() * 1000), ordering: .relaxed)
                    timeout = timeval(tv_sec: 1, tv_usec: 0)
                    _ = libusb_handle_events_timeout_completed(pointer.raw, &timeout, nil)
                    while state.stalled.load(ordering: .relaxed) && state.running.load(ordering: .acquiring) {
                        usleep(100_000)
                    }
                }
            }
        } catch {
            libusb_exit(raw)
            throw USBError("start the USB thread (\(error))", code: Int32(LIBUSB_ERROR_NO_MEM.rawValue))
        }
        let reported = state.started.withLock {
            state.started.wait(until: monotonicSeconds() + 10) { state.info.withLock { $0 } != nil }
        }
        if !reported { logger.warning("the USB thread did not start within 10 s; going on") }
        if let cpu, reported {
            let err = state.pinError.withLock { $0 }
            if err != 0 {
                logger.warning("could not pin the USB thread to CPU \(cpu) (error \(err)); it runs unpinned")
            } else {
                logger.info("USB thread pinned to CPU \(cpu)")
            }
        }
    }

    func keepAlive(_ object: any Sendable & AnyObject) { state.retained.withLock { $0.append(object) } }

    /// Seconds since the event thread last went round its loop (it does at least once a
    /// second while healthy: each round wakes an idle appliance, so no more often).
    public var secondsSinceEventLoopRan: Double {
        coarseMonotonicSeconds() - Double(state.heartbeat.load(ordering: .relaxed)) / 1000
    }

    /// Makes the event thread stop handling events, as a hung driver call would: for the
    /// test that proves the watchdog restarts the service (usbp2pd's fault injection).
    public func stallEventThreadForTesting() { state.stalled.store(true, ordering: .relaxed) }

    /// The event thread's id and affinity.
    public var eventThread: EventThreadInfo? { state.info.withLock { $0 } }

    /// Closes a device handle. Never on the event thread itself: libusb keeps its list of
    /// open devices locked while it calls transfer callbacks (`op_handle_events` in libusb
    /// 1.0.26's linux_usbfs.c) and libusb_close takes that lock, so a close from a callback
    /// (where a transfer may let go of its device's last mapped buffer) waited for ever,
    /// and every libusb_open after it. There the close goes to a queue of its own, which
    /// `shutdown` empties before libusb_exit. After `shutdown` nothing is closed: libusb is
    /// gone, and so is the process's use of the device.
    func close(_ handle: OpaquePointer) {
        guard state.running.load(ordering: .acquiring) else { return }
        guard state.info.withLock({ $0?.threadID }) == usbp2p_current_thread_id() else {
            libusb_close(handle)
            return
        }
        let pointer = LibUSBPointer(raw: handle)
        closer.async { libusb_close(pointer.raw) }
    }

    /// Stops the event thread and closes libusb. Handles and transfers must be gone.
    public func shutdown() {
        guard state.running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        libusb_interrupt_event_handler(context)
        thread?.join()
        thread = nil
        closer.sync {}  // the closes the event thread left to it
        libusb_exit(context)
    }

    deinit { shutdown() }
}
