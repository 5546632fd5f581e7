import Exporter
import Session
import USBHost

/// A session channel as the driver of a `USBIPConnection`: the session's reader hands it
/// the client's bytes, and its replies are framed straight into the session. No socket
/// and no thread between the session and the exporter.
final class USBIPChannel: ChannelHandler {
    let connection: USBIPConnection
    let sender: ChannelSender

    private init(connection: USBIPConnection, sender: ChannelSender) {
        self.connection = connection
        self.sender = sender
    }

    /// The channel's end at this side, or nil when the USB/IP server is full (logged).
    static func serve(
        on server: USBIPServer, sender: ChannelSender, peer: String, owner: String,
        allows: @escaping @Sendable (USBDeviceInfo) -> Bool
    ) -> ChannelEnd? {
        let output = USBIPConnection.Output(
            // A reply is encoded into storage the session keeps until the peer acknowledges
            // it and then reuses (its data copied out of the transfer's buffer here, and
            // once more into the encrypted record).
            // (A closure, not `message.encode(into:)`: that method value would be allocated.)
            send: { message in sender.send(byteCount: message.wireLength ?? 0) { message.encode(into: &$0) } },
            shutdown: { sender.close() })
        guard let connection = server.connection(peer: peer, owner: owner, allows: allows, output: output) else {
            return nil
        }
        return .handler(USBIPChannel(connection: connection, sender: sender))
    }

    func received(_ bytes: ArraySlice<UInt8>) {
        if connection.receive(bytes) == .done { sender.close() }
    }

    func closed(_ reason: String) {
        connection.closed(reason)
    }
}
