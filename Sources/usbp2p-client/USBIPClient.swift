import FileSystem
import Sockets
import USBIP

/// The op phase of USB/IP from the importing side.
enum USBIPClient {
    enum Failure: Error, CustomStringConvertible {
        case refused(busid: String, OpStatus)
        case unexpectedReply(MessageKind)
        case closed
        case protocolError(USBIPError)

        var description: String {
            switch self {
            case .refused(let busid, let status): "the server refused to export \(busid): \(status)"
            case .unexpectedReply(let kind): "the server answered with \(kind)"
            case .closed: "the server closed the connection without answering"
            case .protocolError(let e): "the server's answer is not valid USB/IP: \(e)"
            }
        }
    }

    /// Sends OP_REQ_IMPORT and returns the device of an OK reply. After it the socket
    /// is in the URB phase: exactly the reply's bytes have been read from it.
    static func importDevice(busid: String, over socket: Socket, timeoutSeconds: Int) throws -> ExportedDevice {
        try socket.writeAll(USBIPMessage.requestImport(busid: busid).encoded)
        guard case .replyImport(let status, let device) = try readReply(socket, timeoutSeconds: timeoutSeconds) else {
            throw Failure.unexpectedReply(.replyDeviceList)
        }
        guard status == .ok, let device else { throw Failure.refused(busid: busid, status) }
        return device
    }

    /// Sends OP_REQ_DEVLIST and returns the list.
    static func deviceList(over socket: Socket, timeoutSeconds: Int) throws -> [ExportedDevice] {
        try socket.writeAll(USBIPMessage.requestDeviceList.encoded)
        let reply = try readReply(socket, timeoutSeconds: timeoutSeconds)
        guard case .replyDeviceList(let status, let devices) = reply else { throw Failure.unexpectedReply(reply.kind) }
        guard status == .ok else { throw Failure.refused(busid: "*", status) }
        return devices
    }

    /// Reads exactly one reply, byte-exact: no byte of the URB phase that may follow is
    /// consumed (the socket goes to the kernel next), so it reads the 8-byte header first
    /// and then only as much as the decoder still needs.
    private static func readReply(_ socket: Socket, timeoutSeconds: Int) throws -> USBIPMessage {
        socket.setReceiveTimeout(seconds: timeoutSeconds)
        defer { socket.setReceiveTimeout(seconds: 0) }
        var received: [UInt8] = []
        var want = 8
        while true {
            var chunk = [UInt8](repeating: 0, count: want)
            let n = try socket.read(into: &chunk)
            if n == 0 { throw Failure.closed }
            received += chunk[0..<n]
            do throws(USBIPError) {
                if let decoded = try USBIPMessage.decode(from: received[...], receiver: .client) {
                    return decoded.message
                }
            } catch {
                throw Failure.protocolError(error)
            }
            // Op replies are a fixed record after the header: ask for the rest of it.
            want = max(1, min(64 * 1024, expectedLength(received) - received.count))
        }
    }

    /// The length the reply will have, as far as its received part tells.
    private static func expectedLength(_ bytes: [UInt8]) -> Int {
        guard bytes.count >= 8 else { return 8 }
        let code = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        let ok = bytes[4] == 0 && bytes[5] == 0 && bytes[6] == 0 && bytes[7] == 0
        if code == 0x0003 { return ok ? 8 + 312 : 8 }  // OP_REP_IMPORT
        return bytes.count + 1  // the device list is read to the end of the connection anyway
    }
}
