/// What the status LED says, each with a blink pattern that can be told apart by eye
/// (and by sampling the line): docs/user-guide.md, "The status LED".
public enum LEDPattern: String, Sendable, CaseIterable {
    /// The service is starting: slow blink, 1 s on, 1 s off.
    case starting
    /// No network: a short flash every 2 s.
    case noNetwork
    /// Online (the relay or the LAN reaches it), nothing attached: steady on.
    case online
    /// The pairing window is open: fast blink, 4 times a second.
    case pairing
    /// A client has a device attached: on, with a short dark blink every second.
    case attached
    /// The button has been held 3 s: very fast flicker until 10 s clears the allowlist.
    case clearWarning
    /// Something is wrong (the USB thread stalled, a fatal error, the card's settings refused):
    /// three short flashes, pause.
    case error

    /// One period: (lit, milliseconds) steps, repeated.
    public var steps: [(lit: Bool, milliseconds: Int)] {
        switch self {
        case .starting: [(true, 1000), (false, 1000)]
        case .noNetwork: [(true, 150), (false, 1850)]
        case .online: [(true, 1000)]
        case .pairing: [(true, 125), (false, 125)]
        case .attached: [(true, 850), (false, 150)]
        case .clearWarning: [(true, 50), (false, 50)]
        case .error: [(true, 150), (false, 150), (true, 150), (false, 150), (true, 150), (false, 1250)]
        }
    }

    public var periodMilliseconds: Int { steps.reduce(0) { $0 + $1.milliseconds } }

    /// Whether the LED is lit `milliseconds` after the pattern started.
    public func isLit(at milliseconds: Int) -> Bool {
        var t = milliseconds % periodMilliseconds
        for step in steps {
            if t < step.milliseconds { return step.lit }
            t -= step.milliseconds
        }
        return steps.last!.lit
    }

    /// Milliseconds from `milliseconds` until the LED next changes (or a period, if never).
    public func millisecondsUntilChange(after milliseconds: Int) -> Int {
        let lit = isLit(at: milliseconds)
        for ahead in 1...periodMilliseconds where isLit(at: milliseconds + ahead) != lit { return ahead }
        return periodMilliseconds
    }

    /// The fraction of a period the LED is lit (what a sampler measures).
    public var dutyCycle: Double {
        Double(steps.filter(\.lit).reduce(0) { $0 + $1.milliseconds }) / Double(periodMilliseconds)
    }
}

/// What the appliance is doing, and so which pattern the LED shows: the most urgent wins.
public struct ApplianceState: Equatable, Sendable {
    public var ready = false
    public var online = false
    public var pairingOpen = false
    public var attachedDevices = 0
    public var holdingToClear = false
    public var failure: String?
    /// The boot partition's settings were refused (the last good ones are in effect).
    public var settingsError: String?

    public init() {}

    public var pattern: LEDPattern {
        if failure != nil { return .error }
        if holdingToClear { return .clearWarning }
        if pairingOpen { return .pairing }
        // Shown until the card's settings are fixed, but the button still opens pairing.
        if settingsError != nil { return .error }
        if !ready { return .starting }
        if !online { return .noNetwork }
        return attachedDevices > 0 ? .attached : .online
    }
}
