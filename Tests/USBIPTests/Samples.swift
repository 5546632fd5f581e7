@testable import USBIP

/// Bytes from a hex string; spaces and newlines are ignored.
func hexBytes(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0)
    var out: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        out.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return out
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

/// Representative messages of every kind, used by the round-trip, truncation and
/// fuzzing tests. Each is (receiver, message, direction of its request for replies).
enum Samples {
    static let sourceSink = ExportedDevice(
        path: "/sys/devices/platform/dummy_hcd.0/usb1/1-1", busid: "1-1", busnum: 1, devnum: 2,
        speed: .high, idVendor: 0x1a0a, idProduct: 0xbadd, bcdDevice: 0x0610,
        bDeviceClass: 0, bDeviceSubClass: 0, bDeviceProtocol: 0,
        bConfigurationValue: 1, bNumConfigurations: 2, bNumInterfaces: 1,
        interfaces: [InterfaceSummary(bInterfaceClass: 0xff, bInterfaceSubClass: 0, bInterfaceProtocol: 0)])!

    static let storage = ExportedDevice(
        path: "/sys/devices/pci0000:00/0000:00:04.0/usb2/2-1", busid: "2-1", busnum: 2, devnum: 3,
        speed: .super, idVendor: 0x46f4, idProduct: 0x0001, bcdDevice: 0x0000,
        bDeviceClass: 0, bDeviceSubClass: 0, bDeviceProtocol: 0,
        bConfigurationValue: 1, bNumConfigurations: 1, bNumInterfaces: 2,
        interfaces: [
            InterfaceSummary(bInterfaceClass: 8, bInterfaceSubClass: 6, bInterfaceProtocol: 0x50),
            InterfaceSummary(bInterfaceClass: 3, bInterfaceSubClass: 1, bInterfaceProtocol: 1),
        ])!

    static let outData: [UInt8] = (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    static let isoDescriptors = ISOPacketDescriptors([
        ISOPacketDescriptor(offset: 0, length: 192, actualLength: 0),
        ISOPacketDescriptor(offset: 192, length: 192, actualLength: 0),
    ])
    static let isoReplyDescriptors = ISOPacketDescriptors([
        ISOPacketDescriptor(offset: 0, length: 192, actualLength: 100),
        ISOPacketDescriptor(offset: 192, length: 192, actualLength: 92, status: -18),
    ])

    static var all: [(USBIPSide, USBIPMessage, USBIPDirection?)] {
        var importReplyDevice = sourceSink
        importReplyDevice.interfaces = []
        return [
            (.server, .requestDeviceList, nil),
            (.client, .replyDeviceList(status: .ok, devices: []), nil),
            (.client, .replyDeviceList(status: .ok, devices: [sourceSink, storage]), nil),
            (.client, .replyDeviceList(status: .error, devices: []), nil),
            (.server, .requestImport(busid: "1-1"), nil),
            (.client, .replyImport(status: .ok, device: importReplyDevice), nil),
            (.client, .replyImport(status: .deviceBusy, device: nil), nil),
            (
                .server,
                .submit(
                    SubmitCommand(
                        seqnum: 1, devid: 0x0001_0002, direction: .in, ep: 0, transferBufferLength: 18,
                        setup: SetupPacket(bmRequestType: 0x80, bRequest: 6, wValue: 0x0100, wIndex: 0, wLength: 18))),
                nil
            ),
            (
                .server,
                .submit(
                    SubmitCommand(
                        seqnum: 2, devid: 0x0001_0002, direction: .out, ep: 2, transferFlags: 0,
                        transferBufferLength: UInt32(outData.count), transferBuffer: outData[...])), nil
            ),
            (
                .server,
                .submit(
                    SubmitCommand(
                        seqnum: 3, devid: 0x0001_0002, direction: .in, ep: 3, transferBufferLength: 384,
                        startFrame: 7, numberOfPackets: 2, interval: 1, isoPacketDescriptors: isoDescriptors)), nil
            ),
            (
                .server,
                .submit(
                    SubmitCommand(
                        seqnum: 4, devid: 0x0001_0002, direction: .out, ep: 3, transferBufferLength: 384,
                        numberOfPackets: 2, interval: 1,
                        transferBuffer: ArraySlice(repeating: 0x5a, count: 384), isoPacketDescriptors: isoDescriptors)),
                nil
            ),
            (.server, .unlink(UnlinkCommand(seqnum: 5, devid: 0x0001_0002, unlinkSeqnum: 2)), nil),
            (
                .client,
                .submitReply(
                    SubmitReply(
                        seqnum: 1, status: 0, actualLength: 18,
                        transferBuffer: ArraySlice(repeating: 0x12, count: 18))), .in
            ),
            (.client, .submitReply(SubmitReply(seqnum: 2, status: 0, actualLength: 512)), .out),
            (.client, .submitReply(SubmitReply(seqnum: 9, status: -32, actualLength: 0)), .in),
            (
                .client,
                .submitReply(
                    SubmitReply(
                        seqnum: 3, status: 0, actualLength: 192, startFrame: 7, numberOfPackets: 2, errorCount: 1,
                        transferBuffer: ArraySlice(repeating: 0xa5, count: 192),
                        isoPacketDescriptors: isoReplyDescriptors)), .in
            ),
            (.client, .unlinkReply(UnlinkReply(seqnum: 5, status: UnlinkReply.statusUnlinked)), nil),
        ]
    }
}

extension USBIPMessage {
    /// Decodes `bytes` completely as one message, for tests.
    static func decodeWhole(
        _ bytes: [UInt8], receiver: USBIPSide, direction: USBIPDirection? = nil,
        limits: USBIPLimits = .default
    ) throws(USBIPError) -> USBIPMessage? {
        guard
            let decoded = try decode(
                from: bytes[...], receiver: receiver, limits: limits, requestDirection: { _ in direction })
        else { return nil }
        precondition(decoded.consumed == bytes.count, "decoded \(decoded.consumed) of \(bytes.count) bytes")
        return decoded.message
    }
}
