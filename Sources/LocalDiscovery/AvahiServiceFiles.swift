import FileSystem

/// The server's services announced through avahi-daemon rather than by usbp2pd's own
/// responder, where the machine runs avahi (the appliance): one mDNS responder per host
/// (RFC 6762 §15.2 allows several, at the cost of each one's conflicts and probes being
/// the others' surprise). avahi publishes what static service files in its services
/// directory say and follows that directory with inotify: usbp2pd writes its files there
/// when it starts and removes them when it stops, and avahi sends the goodbyes.
///
/// The records are the ones `MDNSAdvertiser` answers with (PTR, SRV, TXT `id=…`), so a
/// laptop's `MDNSBrowser` finds the server the same way; the SRV target is avahi's host
/// name (`usbp2p.local` on the appliance) with the addresses avahi publishes for it.
public struct AvahiServiceFiles: Sendable {
    public let directory: String
    /// The session listener's file (`_usbp2p._tcp`).
    public var sessionFile: String { "\(directory)/usbp2p-session.service" }
    /// The status page's file (`_http._tcp`, `_device-info._tcp`).
    public var statusFile: String { "\(directory)/usbp2p-status.service" }

    public init(directory: String) { self.directory = directory }

    /// Writes the session's file, and the status page's if there is one (else removes a
    /// status file an earlier start left). `id` is an EndpointId's text: base32, lower
    /// case (RFC 4648 alphabet), which needs no XML escaping; any other text is refused.
    public func publish(id: String, sessionPort: UInt16, statusPort: UInt16?) throws {
        guard !id.isEmpty,
            id.utf8.allSatisfy({
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                    || (UInt8(ascii: "2")...UInt8(ascii: "7")).contains($0)
            })
        else { throw NotAnEndpointId(text: id) }
        try AtomicFile.write(Array(Self.sessionService(id: id, port: sessionPort).utf8), to: sessionFile, mode: 0o644)
        if let statusPort {
            try AtomicFile.write(Array(Self.statusService(port: statusPort).utf8), to: statusFile, mode: 0o644)
        } else {
            try AtomicFile.remove(statusFile)
        }
    }

    /// Removes both files: avahi withdraws the records (goodbye packets, TTL 0).
    public func withdraw() throws(SystemError) {
        try AtomicFile.remove(sessionFile)
        try AtomicFile.remove(statusFile)
    }

    static let header = """
        <?xml version="1.0" standalone='no'?>
        <!DOCTYPE service-group SYSTEM "avahi-service.dtd">
        <!-- Written by usbp2pd when it starts, removed when it stops (lan.avahi_services). -->

        """

    static func sessionService(id: String, port: UInt16) -> String {
        let (instance, _) = MDNS.names(for: id)
        let name = instance.prefix { $0 != "." }
        return header + """
            <service-group>
              <name>\(name)</name>
              <service>
                <type>_usbp2p._tcp</type>
                <port>\(port)</port>
                <txt-record>id=\(id)</txt-record>
                <txt-record>v=1</txt-record>
              </service>
            </service-group>

            """
    }

    static func statusService(port: UInt16) -> String {
        header + """
            <service-group>
              <name replace-wildcards="yes">usbp2p appliance on %h</name>
              <service>
                <type>_http._tcp</type>
                <port>\(port)</port>
                <txt-record>path=/</txt-record>
              </service>
              <service>
                <type>_device-info._tcp</type>
                <port>0</port>
                <txt-record>model=usbp2p</txt-record>
              </service>
            </service-group>

            """
    }
}

/// An id that is not an EndpointId's base32 text.
public struct NotAnEndpointId: Error, CustomStringConvertible {
    public let text: String
    public var description: String { "not an EndpointId: \(text.debugDescription)" }
}
