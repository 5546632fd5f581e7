import CGPIOD

#if canImport(Glibc)
    import Glibc
#endif

/// The linked libgpiod (v2 API).
public enum LibGPIOD {
    /// e.g. "2.1.3".
    public static var version: String { String(cString: gpiod_api_version()) }
}

/// Why a GPIO line could not be had.
public struct GPIOError: Error, Equatable, Sendable, CustomStringConvertible {
    public let what: String
    public let errno: Int32
    public var description: String { "\(what): \(String(cString: strerror(errno)))" }

    /// Whether the chip does not exist (no GPIO hardware, or not this chip).
    public var isMissingChip: Bool { errno == ENOENT || errno == ENODEV }
}

/// One requested GPIO line, through libgpiod's v2 line request (the kernel's GPIO
/// character device). Output lines drive an LED; input lines report edges.
public final class GPIOLine: @unchecked Sendable {
    private let request: OpaquePointer
    private let events: OpaquePointer?
    public let offset: UInt32
    public let chip: String

    /// How a line is requested.
    public enum Mode: Sendable {
        /// Driven by us, starting off.
        case output(activeLow: Bool)
        /// Read by us with the internal pull-up, active (pressed) when pulled low, with
        /// edge events debounced by the kernel for `debounceMicroseconds`.
        case buttonToGround(debounceMicroseconds: UInt)
    }

    /// - Parameter chip: a chip's name ("gpiochip0") or device path.
    public init(chip: String, offset: UInt32, mode: Mode, consumer: String) throws(GPIOError) {
        self.chip = chip
        self.offset = offset
        let path = chip.hasPrefix("/") ? chip : "/dev/\(chip)"
        guard let handle = gpiod_chip_open(path) else { throw GPIOError(what: "open \(path)", errno: errno) }
        defer { gpiod_chip_close(handle) }
        guard let settings = gpiod_line_settings_new(), let lineConfig = gpiod_line_config_new(),
            let requestConfig = gpiod_request_config_new()
        else { throw GPIOError(what: "libgpiod allocation", errno: ENOMEM) }
        defer {
            gpiod_line_settings_free(settings)
            gpiod_line_config_free(lineConfig)
            gpiod_request_config_free(requestConfig)
        }
        switch mode {
        case .output(let activeLow):
            gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT)
            gpiod_line_settings_set_active_low(settings, activeLow)
            gpiod_line_settings_set_output_value(settings, GPIOD_LINE_VALUE_INACTIVE)
        case .buttonToGround(let debounce):
            gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT)
            gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_PULL_UP)
            gpiod_line_settings_set_active_low(settings, true)
            gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH)
            gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC)
            gpiod_line_settings_set_debounce_period_us(settings, debounce)
        }
        var line = offset
        guard gpiod_line_config_add_line_settings(lineConfig, &line, 1, settings) == 0 else {
            throw GPIOError(what: "configure line \(offset) of \(chip)", errno: errno)
        }
        gpiod_request_config_set_consumer(requestConfig, consumer)
        guard let request = gpiod_chip_request_lines(handle, requestConfig, lineConfig) else {
            throw GPIOError(what: "request line \(offset) of \(chip)", errno: errno)
        }
        self.request = request
        if case .buttonToGround = mode {
            guard let buffer = gpiod_edge_event_buffer_new(16) else {
                gpiod_line_request_release(request)
                throw GPIOError(what: "libgpiod allocation", errno: ENOMEM)
            }
            events = buffer
        } else {
            events = nil
        }
    }

    deinit {
        if let events { gpiod_edge_event_buffer_free(events) }
        gpiod_line_request_release(request)
    }

    /// Drives an output line: true is active (the LED lit).
    public func set(_ active: Bool) throws(GPIOError) {
        guard
            gpiod_line_request_set_value(request, offset, active ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE)
                == 0
        else { throw GPIOError(what: "set line \(offset) of \(chip)", errno: errno) }
    }

    /// The line's logical value: for the button, true while pressed.
    public func value() throws(GPIOError) -> Bool {
        let v = gpiod_line_request_get_value(request, offset)
        guard v != GPIOD_LINE_VALUE_ERROR else { throw GPIOError(what: "read line \(offset) of \(chip)", errno: errno) }
        return v == GPIOD_LINE_VALUE_ACTIVE
    }

    /// An edge on an input line: whether it became active, and when (CLOCK_MONOTONIC).
    public struct Edge: Equatable, Sendable {
        public let active: Bool
        public let seconds: Double
    }

    /// Edges that arrive within `seconds` (none if it passes first).
    public func waitForEdges(seconds: Double) throws(GPIOError) -> [Edge] {
        guard let events else { return [] }
        let ready = gpiod_line_request_wait_edge_events(request, Int64(seconds * 1e9))
        // A signal (the service stopping, systemd's watchdog) interrupts the wait: not an error.
        if ready < 0 && errno == EINTR { return [] }
        guard ready >= 0 else { throw GPIOError(what: "wait for edges on line \(offset)", errno: errno) }
        guard ready > 0 else { return [] }
        let count = gpiod_line_request_read_edge_events(request, events, 16)
        guard count >= 0 else { throw GPIOError(what: "read edges on line \(offset)", errno: errno) }
        return (0..<Int(count)).compactMap { index in
            guard let event = gpiod_edge_event_buffer_get_event(events, UInt(index)) else { return nil }
            // Active low: the falling edge of the pin is the rising edge of "pressed";
            // libgpiod reports edges of the logical value.
            return Edge(
                active: gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE,
                seconds: Double(gpiod_edge_event_get_timestamp_ns(event)) / 1e9)
        }
    }
}
