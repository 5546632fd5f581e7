/// Timings and bounds of a session. The defaults suit a person's USB device over the
/// internet; tests shorten the timings.
public struct SessionConfiguration: Sendable {
    /// How long a session waits for its peer to come back on a new connection before it
    /// ends (devices detached on the laptop, released on the Pi).
    public var grace: Double = 30
    /// A ping goes out this often, so a silent link is noticed and the RTT is known.
    public var pingInterval: Double = 2
    /// Nothing received for this long: the connection is dead (a cut link sends no RST).
    public var deadAfter: Double = 6
    /// How long a channel handler may hold the session's reader (a USB/IP special
    /// request waiting for a device's reset) without that counting as the peer's silence.
    /// The kernel's own timeouts for a control request or a reset are seconds; a handler
    /// stuck longer costs the connection, as silence would.
    public var handlerAllowance: Double = 30
    /// Bytes a channel may have in flight towards its peer before the peer consumes them:
    /// bounds what the receiver buffers per channel, and so per device.
    public var channelWindow = 1 << 20
    /// Unacknowledged frames kept for resending at most, headers included (beyond it,
    /// sending pauses).
    public var maxUnackedBytes = 16 << 20
    /// Control messages waiting to be sent at most, in bytes. Replies to the peer's
    /// control messages queue here: a peer that keeps asking while it reads nothing
    /// would otherwise grow this process without end. Past it the session ends.
    public var maxQueuedControlBytes = 1 << 20
    /// Acknowledge at least every this many data frames.
    public var ackEvery: UInt64 = 16
    /// Bytes a channel handled in this process (`ChannelEnd.handler`) may queue towards
    /// the peer beyond its window: replies made on the USB thread never wait for the
    /// network, and a peer that stops reading while its URBs complete is cut off at this
    /// bound instead of growing this process (several of the largest URBs, 8 MiB each).
    public var maxQueuedChannelBytes = 32 << 20
    /// Channels open at once in one session (each is one attached device or one listing).
    public var maxChannels = 64

    public init() {}
}
