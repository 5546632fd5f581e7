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

    /// Reads one reply. After an import reply the socket goes to the kernel, so not one
    /// byte past the reply may be read: the 8-byte header first, then exactly the rest
    /// of the 320-byte OK reply. A device list is the last message on its connection and
    /// is read in chunks.
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
            want = nextReadSize(received)
        }
    }

    /// How much more to read: up to the end of an import reply, or a chunk.
    static func nextReadSize(_ bytes: [UInt8]) -> Int {
        guard bytes.count >= 8 else { return 8 - bytes.count }
        let code = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        guard code == 0x0003 else { return 16 * 1024 }  // not OP_REP_IMPORT
        let ok = bytes[4...7].allSatisfy { $0 == 0 }
        return max(1, (ok ? 8 + 312 : 8) - bytes.count)
    }
}
