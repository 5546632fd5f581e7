import ByteBuffers
import USBHost

/// What an import needs of its device: the seam between the URB logic of `ImportSession`
/// and libusb, so every ordering of submit, complete and unlink, and every error reply,
/// can be driven by a fake device in the tests (and in the benchmarks that count
/// what one URB costs on the export path: public for them, not an API).
public protocol URBDevice: AnyObject, Sendable {
    /// The device's bus id, for log lines.
    var busid: String { get }
    /// The type of endpoint `endpoint` (bit 7 set for IN) now; nil if it has none.
    func transferType(endpoint: UInt8) -> USBTransferType?
    /// Submits one transfer; `completion` is told its result with `tag` once, on another
    /// thread (possibly before this returns), unless it has gone by then (it is held
    /// weakly), and must not block.
    func submit(_ request: URBRequest, tag: UInt32, completion: any USBTransferCompletion)
        throws(USBError) -> any SubmittedURB
    func clearHalt(endpoint: UInt8) throws(USBError)
    func setInterface(_ interface: Int32, alternateSetting: Int32) throws(USBError)
    func setConfiguration(_ value: Int32) throws(USBError)
    func reset() throws(USBError)
    /// A buffer for the data of an OUT transfer of `count` bytes to `endpoint`, filled by
    /// the caller and then submitted as `URBRequest.outBlock`, so that the data is read
    /// from the peer straight into it; nil where this device takes its data as bytes.
    func outBuffer(_ count: Int, endpoint: UInt8) -> FixedBytes?
}

extension URBDevice {
    public func outBuffer(_ count: Int, endpoint: UInt8) -> FixedBytes? { nil }
}

/// A transfer in flight: it can only be asked to stop (its completion then says how it ended).
public protocol SubmittedURB: AnyObject, Sendable {
    func cancel()
}

/// One transfer as libusb takes it (see `USBTransfer.init`).
public struct URBRequest: Sendable {
    public var type: USBTransferType
    public var endpoint: UInt8
    public var outData: ArraySlice<UInt8>
    /// Instead of `outData`: a buffer from `URBDevice.outBuffer` whose first `length`
    /// bytes are the data.
    public var outBlock: FixedBytes?
    public var length: Int
    public var isoPacketLengths: [Int]
    public var flags: USBTransferFlags
}

extension USBTransfer: SubmittedURB {}

extension USBDeviceHandle: URBDevice {
    public var busid: String { info.busid }

    public func submit(_ request: URBRequest, tag: UInt32, completion: any USBTransferCompletion)
        throws(USBError) -> any SubmittedURB
    {
        try USBTransfer(
            handle: self, type: request.type, endpoint: request.endpoint, outData: request.outData,
            outBlock: request.outBlock, length: request.length, isoPacketLengths: request.isoPacketLengths,
            flags: request.flags, tag: tag, completion: completion)
    }

    /// Bulk endpoints only: there the transfer submits the block itself.
    public func outBuffer(_ count: Int, endpoint: UInt8) -> FixedBytes? {
        endpoint & 0x80 == 0 && transferType(endpoint: endpoint) == .bulk ? outTransferBuffer(count) : nil
    }
}
