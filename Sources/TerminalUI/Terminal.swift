import CPlatform
import FileSystem
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// The controlling terminal of an interactive view, held in the view's own mode: raw
/// input (keys arrive one by one, unechoed), the alternate screen, no cursor. `restore`
/// puts everything back, also after Ctrl-C or SIGTERM, which arrive as events (signalfd)
/// instead of killing the process with the terminal left raw. Plain ANSI escapes, which
/// every terminal emulator and the Linux console understand: no library needed.
public final class Terminal {
    /// What the view waits for.
    public enum Event: Equatable, Sendable {
        case key(Key)
        /// The window changed size.
        case resized
        /// Ctrl-C, SIGTERM or SIGHUP: the view ends.
        case interrupted
        /// Nothing within the wait's time: time to refresh.
        case tick
    }

    public enum Key: Equatable, Sendable {
        case up, down, enter
        case character(Character)
        case other
    }

    private let input: Int32 = 0
    private let output: Int32 = 1
    private var saved = termios()
    private let signals: Int32
    private var restored = false
    private var pending: [UInt8] = []

    /// Takes the terminal over; throws when standard input or output is not a terminal.
    /// Blocks SIGINT, SIGTERM, SIGHUP and SIGWINCH for the whole process (call it before
    /// any thread starts): they are read from a signalfd instead.
    public init() throws(SystemError) {
        guard isatty(input) == 1, isatty(output) == 1 else {
            throw SystemError(call: "isatty", path: "standard input and output", errno: ENOTTY)
        }
        signals = try systemCall("signalfd") { usbp2p_view_signals() }
        _ = try systemCall("tcgetattr") { tcgetattr(input, &saved) }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG | IEXTEN)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
        _ = try systemCall("tcsetattr") { tcsetattr(input, TCSANOW, &raw) }
        write("\u{1b}[?1049h\u{1b}[?25l")  // the alternate screen, no cursor
    }

    deinit { restore() }

    /// Puts the terminal back as it was (once; also done when this goes away).
    public func restore() {
        guard !restored else { return }
        restored = true
        write("\u{1b}[?25h\u{1b}[?1049l")
        _ = tcsetattr(input, TCSANOW, &saved)
        close(signals)
    }

    /// Rows and columns (24 × 80 if the terminal does not say).
    public var size: (rows: Int, columns: Int) {
        var window = winsize()
        guard ioctl(output, UInt(TIOCGWINSZ), &window) == 0, window.ws_row > 0, window.ws_col > 0 else {
            return (24, 80)
        }
        return (Int(window.ws_row), Int(window.ws_col))
    }

    /// Shows `frame` (a whole screen, as `Screen.frame` makes it).
    public func show(_ frame: String) { write(frame) }

    /// The next event, waiting at most `seconds`.
    public func next(within seconds: Double) -> Event {
        if let key = takeKey() { return .key(key) }
        var readiness = Readiness()
        do {
            try readiness.wait(
                [
                    .init(descriptor: signals, read: true, write: false),
                    .init(descriptor: input, read: true, write: false),
                ],
                seconds: seconds)
        } catch {
            return .tick  // EINTR and the like: the caller refreshes and waits again
        }
        if !readiness.events(at: 0).isEmpty {
            let signal = usbp2p_read_signal(signals)
            if signal != 0 { return signal == SIGWINCH ? .resized : .interrupted }
        }
        if readiness.events(at: 1).contains(.broken) { return .interrupted }  // the terminal went away
        if readiness.events(at: 1).contains(.readable) {
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
            if n <= 0 { return .interrupted }
            pending += buffer[0..<n]
            if let key = takeKey() { return .key(key) }
        }
        return .tick
    }

    /// One key from what was read: an arrow's escape sequence, Enter, Ctrl-C (as an
    /// interrupt's key), or a character.
    private func takeKey() -> Key? {
        let (key, used) = Self.decodeKey(pending)
        pending.removeFirst(used)
        return key
    }

    /// The first key in `bytes` and how many bytes it took (nil, 0 when there is none).
    public static func decodeKey(_ bytes: [UInt8]) -> (Key?, Int) {
        guard let first = bytes.first else { return (nil, 0) }
        switch first {
        case 0x1b:
            // A lone Esc, or a sequence this view has no use for.
            guard bytes.count >= 3, bytes[1] == UInt8(ascii: "[") || bytes[1] == UInt8(ascii: "O") else {
                return (.other, min(bytes.count, 2))
            }
            switch bytes[2] {
            case UInt8(ascii: "A"): return (.up, 3)
            case UInt8(ascii: "B"): return (.down, 3)
            default: return (.other, 3)
            }
        case 0x0d, 0x0a: return (.enter, 1)
        case 0x03: return (.character("\u{3}"), 1)
        case 0x20...0x7e: return (.character(Character(Unicode.Scalar(first))), 1)
        default: return (.other, 1)
        }
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(output, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}

/// A screen's worth of lines, drawn in one write: each line cut or padded to the width,
/// the rest of the screen cleared. Lines hold no escapes of their own except those
/// `Screen.bold` and `Screen.inverse` make, which take no columns.
public enum Screen {
    public static func frame(_ lines: [String], rows: Int, columns: Int) -> String {
        var out = "\u{1b}[H"
        for (index, line) in lines.prefix(max(0, rows)).enumerated() {
            if index > 0 { out += "\r\n" }
            out += fit(line, columns: columns) + "\u{1b}[K"
        }
        out += "\u{1b}[J"
        return out
    }

    static let boldOn = "\u{1b}[1m"
    static let inverseOn = "\u{1b}[7m"
    static let off = "\u{1b}[0m"

    public static func bold(_ text: String) -> String { boldOn + text + off }
    public static func inverse(_ text: String) -> String { inverseOn + text + off }

    /// `line` in at most `columns` columns (one column a character; the escapes above
    /// take none and are kept whole, the style ended where the line is cut).
    public static func fit(_ line: String, columns: Int) -> String {
        var out = ""
        var used = 0
        var rest = Substring(line)
        var styled = false
        while let first = rest.first {
            if first == "\u{1b}" {
                for escape in [boldOn, inverseOn, off] where rest.hasPrefix(escape) {
                    out += escape
                    styled = escape != off
                    rest = rest.dropFirst(escape.count)
                }
                if rest.first == "\u{1b}" { rest = rest.dropFirst() }  // any other: dropped
                continue
            }
            guard used < columns else { break }
            out.append(first)
            used += 1
            rest = rest.dropFirst()
        }
        return styled ? out + off : out
    }
}
