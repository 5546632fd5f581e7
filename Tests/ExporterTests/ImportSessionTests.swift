import ByteBuffers
import Dispatch
import Glibc
import Log
import Synchronization
import TestSupport
import Testing
import USBHost
import USBIP

@testable import Exporter

/// A device that records what the session asks of it; the test completes its transfers.
private final class FakeDevice: URBDevice, @unchecked Sendable {
    let busid = "9-9"
    let endpoints: [UInt8: USBTransferType]
    /// What `submit` throws, when set.
    let failure = Mutex<USBError?>(nil)
    /// Runs inside `submit`, before it returns (a CMD_UNLINK arriving meanwhile).
    let duringSubmit = Mutex<(@Sendable () -> Void)?>(nil)
    /// Transfers submitted, in order.
    let submitted = Mutex<[FakeTransfer]>([])
    /// Cancelled transfers complete at once (as `.cancelled`) on another thread.
    let cancelCompletes: Bool

    init(
        endpoints: [UInt8: USBTransferType] = [0x81: .bulk, 0x02: .bulk, 0x83: .isochronous],
        cancelCompletes: Bool = false
    ) {
        self.endpoints = endpoints
        self.cancelCompletes = cancelCompletes
    }

    func transferType(endpoint: UInt8) -> USBTransferType? {
        endpoint & 0x7F == 0 ? .control : endpoints[endpoint]
    }

    func submit(_ request: URBRequest, tag: UInt32, completion: any USBTransferCompletion)
        throws(USBError) -> any SubmittedURB
    {
        duringSubmit.withLock { $0 }?()
        if let failure = failure.withLock({ $0 }) { throw failure }
        // Held weakly, as libusb's transfers hold it.
        let transfer = FakeTransfer(
            request: request, completion: { [weak completion] in completion?.transferCompleted(tag, $0) },
            completesWhenCancelled: cancelCompletes)
        submitted.withLock { $0.append(transfer) }
        return transfer
    }

    func clearHalt(endpoint: UInt8) throws(USBError) {}
    func setInterface(_ interface: Int32, alternateSetting: Int32) throws(USBError) {
        throw USBError("set interface", code: -9)
    }
    func setConfiguration(_ value: Int32) throws(USBError) {}
    func reset() throws(USBError) {}

    func transfer(_ index: Int) -> FakeTransfer { submitted.withLock { $0[index] } }

    /// Lends a buffer for any endpoint (whatever its type) when `lendsOutBuffers`.
    var lendsOutBuffers = false
    func outBuffer(_ count: Int, endpoint: UInt8) -> FixedBytes? {
        lendsOutBuffers ? FixedBytes(uninitializedCount: count) : nil
    }
}

private final class FakeTransfer: SubmittedURB, @unchecked Sendable {
    let request: URBRequest
    let completion: @Sendable (USBTransferResult) -> Void
    let completesWhenCancelled: Bool
    let cancelled = Atomic<Int>(0)

    init(request: URBRequest, completion: @escaping @Sendable (USBTransferResult) -> Void, completesWhenCancelled: Bool)
    {
        self.request = request
        self.completion = completion
        self.completesWhenCancelled = completesWhenCancelled
    }

    func cancel() {
        cancelled.add(1, ordering: .relaxed)
        if completesWhenCancelled {
            DispatchQueue.global().async { self.complete(.cancelled) }
        }
    }

    func complete(_ status: USBTransferStatus, data: [UInt8] = [], iso: [USBISOPacketResult] = []) {
        completion(USBTransferResult(status: status, actualLength: data.count, data: data, isoPackets: iso))
    }

    func complete(_ result: USBTransferResult) { completion(result) }
}

/// Two threads taking turns at the same index.
private final class Lockstep: Sendable {
    let turn = Atomic<Int>(-1)
    let completed = Atomic<Int>(0)
}

/// What the session sent, in order, and how often it said the device was gone.
private final class Box: Sendable {
    let sent = Mutex<[USBIPMessage]>([])
    let gone = Atomic<Int>(0)
}

/// `whileSending` runs in `send`, before the message is recorded.
private func makeSession(
    _ device: FakeDevice = FakeDevice(), share: Int? = nil, whileSending: (@Sendable (OutboundMessage) -> Void)? = nil
) -> (FakeDevice, ImportSession, Box) {
    let box = Box()
    let session = ImportSession(
        device: device, devid: 0x10002, logger: Logger(label: "test", level: .critical), maxInFlightBytes: share,
        send: { message in
            whileSending?(message)
            box.sent.withLock { $0.append(message.whole) }
        },
        deviceGone: { box.gone.add(1, ordering: .relaxed) })
    return (device, session, box)
}

private func write(_ text: String, to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw USBError("open \(path)", code: -1) }
    defer { close(fd) }
    _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
}

private func bulkIn(_ seqnum: UInt32, length: UInt32 = 512) -> USBIPMessage {
    .submit(SubmitCommand(seqnum: seqnum, devid: 0x10002, direction: .in, ep: 1, transferBufferLength: length))
}

private func isoIn(_ seqnum: UInt32, ep: UInt32, packets: Int) -> SubmitCommand {
    SubmitCommand(
        seqnum: seqnum, devid: 0x10002, direction: .in, ep: ep, transferBufferLength: UInt32(packets * 192),
        numberOfPackets: UInt32(packets),
        isoPacketDescriptors: ISOPacketDescriptors(
            (0..<packets).map { ISOPacketDescriptor(offset: UInt32($0 * 192), length: 192) }))
}

private func unlink(_ seqnum: UInt32, of target: UInt32) -> USBIPMessage {
    .unlink(UnlinkCommand(seqnum: seqnum, devid: 0x10002, unlinkSeqnum: target))
}

/// Decodes `message` as the importer would, knowing the direction of its request.
private func decodedByImporter(_ message: USBIPMessage, requestDirection: USBIPDirection) throws -> USBIPMessage? {
    var decoder = USBIPStreamDecoder(receiver: .client)
    decoder.append(message.encoded)
    return try decoder.next { _ in requestDirection }
}

@Suite struct ImportSessionTests {
    private static func bulkOut(_ seqnum: UInt32, ep: UInt32 = 2, length: Int) -> SubmitCommand {
        SubmitCommand(
            seqnum: seqnum, devid: 0x10002, direction: .out, ep: ep, transferBufferLength: UInt32(length))
    }

    /// An OUT URB of `length` bytes of `byte` to endpoint 2, its data put into the buffer
    /// the session lends, as the plain reader does: what the device was asked to submit,
    /// and that buffer.
    private static func submittedFromBuffer(
        _ device: FakeDevice, length: Int, byte: UInt8
    ) throws -> (request: URBRequest, data: FixedBytes) {
        device.lendsOutBuffers = true
        let (_, session, _) = makeSession(device)
        let command = Self.bulkOut(1, length: length)
        let data = try #require(session.outBuffer(for: command))
        data.fill(at: 0, with: [UInt8](repeating: byte, count: length)[...])
        try session.handle(command, data: data)
        return (device.transfer(0).request, data)
    }

    @Test func anOUTURBsDataReadIntoItsBufferIsSubmittedFromThatBufferNotCopied() throws {
        let (request, data) = try Self.submittedFromBuffer(FakeDevice(), length: 8192, byte: 0x5A)
        #expect(request.outBlock === data)
        #expect(request.outData.isEmpty)
        #expect(request.length == 8192)
    }

    @Test func aBufferForAnEndpointThatIsNotBulkNowIsSubmittedAsBytes() throws {
        let (request, _) = try Self.submittedFromBuffer(
            FakeDevice(endpoints: [0x02: .interrupt]), length: 4096, byte: 7)
        #expect(request.outBlock == nil)
        #expect(Array(request.outData) == [UInt8](repeating: 7, count: 4096))
    }

    @Test func noBufferIsLentForAnINURBOrEndpointZero() {
        let device = FakeDevice()
        device.lendsOutBuffers = true
        let (_, session, _) = makeSession(device)
        var inURB = Self.bulkOut(1, length: 4096)
        inURB.direction = .in
        #expect(session.outBuffer(for: inURB) == nil)
        #expect(session.outBuffer(for: Self.bulkOut(2, ep: 0, length: 4096)) == nil)
        #expect(session.outBuffer(for: Self.bulkOut(3, length: 4096)) != nil)
    }

    @Test func anIsoRequestToAMissingEndpointGetsItsDescriptorsBackWithTheError() throws {
        let (_, session, box) = makeSession()
        let command = isoIn(7, ep: 5, packets: 3)
        try session.handle(.submit(command))
        let sent = box.sent.withLock { $0 }
        #expect(sent.count == 1)
        guard case .submitReply(let reply) = sent.first else {
            Issue.record("no RET_SUBMIT")
            return
        }
        #expect(reply.status == URBStatus.noEntry)
        #expect(reply.isoPacketDescriptors.count == 3)
        #expect(reply.isoPacketDescriptors.allSatisfy { $0.actualLength == 0 && $0.status == URBStatus.noEntry })
        #expect(reply.errorCount == 3)
        #expect(try decodedByImporter(sent[0], requestDirection: .in) == sent[0])
    }

    @Test func anIsoRequestToEndpointZeroThatTheServerAnswersItselfEncodes() throws {
        let (_, session, box) = makeSession()
        // SET_ADDRESS with iso packets: nonsense a hostile importer may send.
        var command = isoIn(8, ep: 0, packets: 2)
        command.direction = .out
        command.setup = SetupPacket(bmRequestType: 0x00, bRequest: 0x05, wValue: 3, wIndex: 0, wLength: 0)
        command.transferBuffer = ArraySlice(repeating: 0, count: Int(command.transferBufferLength))
        try session.handle(.submit(command))
        let sent = box.sent.withLock { $0 }
        #expect(try decodedByImporter(sent[0], requestDirection: .out) == sent[0])
    }

    @Test func aFailedSetInterfaceAnswersAnIsoRequestWellFormed() throws {
        let (_, session, box) = makeSession()
        var command = isoIn(9, ep: 0, packets: 4)
        command.direction = .out
        command.setup = SetupPacket(bmRequestType: 0x01, bRequest: 0x0B, wValue: 1, wIndex: 0, wLength: 0)
        command.transferBuffer = ArraySlice(repeating: 0, count: Int(command.transferBufferLength))
        try session.handle(.submit(command))
        let sent = box.sent.withLock { $0 }
        guard case .submitReply(let reply) = sent.first else {
            Issue.record("no RET_SUBMIT")
            return
        }
        #expect(reply.status == URBStatus.pipe)
        #expect(reply.isoPacketDescriptors.count == 4)
        #expect(try decodedByImporter(sent[0], requestDirection: .out) == sent[0])
    }

    @Test func aFailedIsoSubmissionGetsItsDescriptorsBack() throws {
        let (device, session, box) = makeSession()
        device.failure.withLock { $0 = USBError("submit", code: -1) }
        try session.handle(.submit(isoIn(10, ep: 3, packets: 5)))
        let sent = box.sent.withLock { $0 }
        guard case .submitReply(let reply) = sent.first else {
            Issue.record("no RET_SUBMIT")
            return
        }
        #expect(reply.isoPacketDescriptors.count == 5)
        #expect(try decodedByImporter(sent[0], requestDirection: .in) == sent[0])
        #expect(session.inFlightCount == 0)
    }

    @Test func anIsoCompletionThatOverfillsAPacketIsClampedToItsLength() throws {
        let (device, session, box) = makeSession()
        try session.handle(.submit(isoIn(11, ep: 3, packets: 2)))
        device.transfer(0).complete(
            .completed, data: [UInt8](repeating: 7, count: 384),
            iso: [
                USBISOPacketResult(actualLength: 4000, status: .completed),
                USBISOPacketResult(actualLength: 10, status: .completed),
            ])
        let sent = box.sent.withLock { $0 }
        guard case .submitReply(let reply) = sent.first else {
            Issue.record("no RET_SUBMIT")
            return
        }
        #expect(reply.isoPacketDescriptors.map(\.actualLength) == [192, 10])
        #expect(reply.actualLength == 202)
        #expect(try decodedByImporter(sent[0], requestDirection: .in) == sent[0])
    }

    @Test func aCompletionBeforeItsUnlinkSendsRetSubmitThenRetUnlinkWithStatusZero() throws {
        let (device, session, box) = makeSession()
        try session.handle(bulkIn(1))
        device.transfer(0).complete(.completed, data: [1, 2, 3])
        try session.handle(unlink(2, of: 1))
        let sent = box.sent.withLock { $0 }
        #expect(sent.count == 2)
        guard case .submitReply(let reply) = sent[0], case .unlinkReply(let unlinked) = sent[1] else {
            Issue.record("expected RET_SUBMIT then RET_UNLINK, got \(sent.map(\.kind))")
            return
        }
        #expect(reply.seqnum == 1 && Array(reply.transferBuffer) == [1, 2, 3])
        #expect(unlinked.seqnum == 2 && unlinked.status == 0)
        #expect(device.transfer(0).cancelled.load(ordering: .relaxed) == 0)
    }

    @Test func anUnlinkedURBIsAnsweredByRetUnlinkAlone() throws {
        let (device, session, box) = makeSession()
        try session.handle(bulkIn(1))
        try session.handle(unlink(2, of: 1))
        #expect(device.transfer(0).cancelled.load(ordering: .relaxed) == 1)
        #expect(box.sent.withLock { $0.isEmpty })
        device.transfer(0).complete(.cancelled)
        #expect(box.sent.withLock { $0 } == [.unlinkReply(UnlinkReply(seqnum: 2, status: URBStatus.connectionReset))])
    }

    @Test func aURBThatFinishesAfterItsUnlinkReportsItsOwnStatusInRetUnlink() throws {
        let (device, session, box) = makeSession()
        try session.handle(bulkIn(1))
        try session.handle(unlink(2, of: 1))
        device.transfer(0).complete(.stall)
        #expect(box.sent.withLock { $0 } == [.unlinkReply(UnlinkReply(seqnum: 2, status: URBStatus.pipe))])
    }

    @Test func anUnlinkDuringSubmissionCancelsTheTransferOnceItExists() throws {
        let (device, session, box) = makeSession()
        device.duringSubmit.withLock { $0 = { try? session.handle(unlink(2, of: 1)) } }
        try session.handle(bulkIn(1))
        #expect(device.transfer(0).cancelled.load(ordering: .relaxed) == 1)
        device.transfer(0).complete(.cancelled)
        #expect(box.sent.withLock { $0 } == [.unlinkReply(UnlinkReply(seqnum: 2, status: URBStatus.connectionReset))])
    }

    @Test func aSubmissionThatFailsAfterItsUnlinkIsAnsweredByRetUnlinkAlone() throws {
        let (device, session, box) = makeSession()
        device.duringSubmit.withLock { $0 = { try? session.handle(unlink(2, of: 1)) } }
        device.failure.withLock { $0 = USBError("submit", code: -1) }
        try session.handle(bulkIn(1))
        #expect(box.sent.withLock { $0 } == [.unlinkReply(UnlinkReply(seqnum: 2, status: URBStatus.proto))])
        #expect(session.inFlightCount == 0)
    }

    @Test func aSecondUnlinkOfTheSameURBIsAnsweredAndTheURBOnce() throws {
        let (device, session, box) = makeSession()
        try session.handle(bulkIn(1))
        try session.handle(unlink(2, of: 1))
        try session.handle(unlink(3, of: 1))
        device.transfer(0).complete(.cancelled)
        #expect(
            box.sent.withLock { $0 } == [
                .unlinkReply(UnlinkReply(seqnum: 3, status: 0)),
                .unlinkReply(UnlinkReply(seqnum: 2, status: URBStatus.connectionReset)),
            ])
    }

    @Test func anUnlinkThatComesBeforeItsURBIsAnsweredWhenTheURBComesWhichIsNotSubmitted() throws {
        // vhci_hcd's order when a URB is unlinked before it was sent (see `earlyUnlinks`).
        let (device, session, box) = makeSession()
        try session.handle(bulkIn(8))
        try session.handle(unlink(10, of: 9))
        #expect(box.sent.withLock { $0.isEmpty })
        try session.handle(bulkIn(9))
        #expect(device.submitted.withLock { $0.count } == 1)
        #expect(box.sent.withLock { $0 } == [.unlinkReply(UnlinkReply(seqnum: 10, status: URBStatus.connectionReset))])
        // An unlink of a URB already answered (older than the newest) is answered at once.
        try session.handle(unlink(11, of: 7))
        #expect(box.sent.withLock { $0.last } == .unlinkReply(UnlinkReply(seqnum: 11, status: 0)))
    }

    @Test func unlinksOfURBsThatNeverComeAreBoundedTheOldestAnsweredAsIfAnswered() throws {
        let (_, session, box) = makeSession()
        try session.handle(bulkIn(UInt32.max - 1))
        // Targets past the wrap of the seqnum are still to come.
        for i in 0..<UInt32(ImportSession.maxEarlyUnlinks + 1) {
            try session.handle(unlink(1000 + i, of: i))
        }
        #expect(box.sent.withLock { $0 } == [.unlinkReply(UnlinkReply(seqnum: 1000, status: 0))])
    }

    @Test func aRetSubmitNeverFollowsTheRetUnlinkOfItsURB() throws {
        // Completions on one thread race unlinks on another. Whatever the interleaving,
        // each URB is answered by its RET_SUBMIT followed by the RET_UNLINK, or by the
        // RET_UNLINK alone; never the RET_UNLINK first (the importer would give the URB
        // back, then meet a RET_SUBMIT for a URB it no longer has and drop the device).
        let (device, session, box) = makeSession()
        let count: UInt32 = 2000
        for seqnum in 1...count { try session.handle(bulkIn(seqnum)) }
        // Lockstep: for each URB the completer and this thread are let go together.
        let step = Lockstep()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue(label: "completer").async {
            for i in 0..<Int(count) {
                while step.turn.load(ordering: .acquiring) < i { sched_yield() }
                device.transfer(i).complete(.completed, data: [UInt8(i & 0xFF)])
                step.completed.add(1, ordering: .releasing)
            }
            done.signal()
        }
        for i in 0..<Int(count) {
            while step.completed.load(ordering: .acquiring) < i { sched_yield() }
            step.turn.store(i, ordering: .releasing)
            try session.handle(unlink(count + UInt32(i) + 1, of: UInt32(i) + 1))
        }
        done.wait()
        var submitAt: [UInt32: Int] = [:]
        var unlinkAt: [UInt32: Int] = [:]
        for (index, message) in box.sent.withLock({ $0 }).enumerated() {
            switch message {
            case .submitReply(let reply):
                #expect(submitAt[reply.seqnum] == nil, "two RET_SUBMITs for \(reply.seqnum)")
                submitAt[reply.seqnum] = index
            case .unlinkReply(let reply):
                let target = reply.seqnum - count
                #expect(unlinkAt[target] == nil, "two RET_UNLINKs for \(target)")
                unlinkAt[target] = index
            default: Issue.record("unexpected \(message.kind)")
            }
        }
        #expect(unlinkAt.count == Int(count))
        for (seqnum, index) in submitAt {
            #expect(unlinkAt[seqnum].map { $0 > index } ?? false, "RET_UNLINK before the RET_SUBMIT of \(seqnum)")
        }
        #expect(session.inFlightCount == 0)
    }

    @Test func aSubmissionDoesNotWaitWhileACompletionsReplyIsBeingSent() throws {
        // The USB thread may spend a while in `send` (a socket write); the reader must be
        // able to submit the next URB meanwhile, so `send` runs outside the in-flight lock.
        let inSend = DispatchSemaphore(value: 0)
        let letSendFinish = DispatchSemaphore(value: 0)
        let first = Atomic<Bool>(true)
        let (device, session, box) = makeSession { _ in
            if first.exchange(false, ordering: .relaxed) {
                inSend.signal()
                letSendFinish.wait()
            }
        }
        try session.handle(bulkIn(1))
        let completer = DispatchSemaphore(value: 0)
        DispatchQueue(label: "completer").async {
            device.transfer(0).complete(.completed, data: [1])
            completer.signal()
        }
        inSend.wait()
        let submitted = DispatchSemaphore(value: 0)
        DispatchQueue(label: "reader").async {
            _ = try? session.handle(bulkIn(2))
            submitted.signal()
        }
        // A deadline only so that a regression fails instead of hanging the suite.
        let submittedDuringSend = submitted.wait(timeout: .now() + 30) == .success
        letSendFinish.signal()
        completer.wait()
        if !submittedDuringSend { submitted.wait() }
        #expect(submittedDuringSend)
        #expect(device.submitted.withLock { $0.count } == 2)
        #expect(box.sent.withLock { $0.count } == 1)
    }

    @Test func anINRepliesDataIsSentFromTheTransfersBufferNotACopy() throws {
        let sentData = Mutex<[FixedBytes.Slice?]>([])
        let (device, session, box) = makeSession { message in sentData.withLock { $0.append(message.data) } }
        try session.handle(bulkIn(1, length: 4096))
        let block = FixedBytes(copying: (0..<4096).map { UInt8(truncatingIfNeeded: $0) })
        device.transfer(0).complete(
            USBTransferResult(status: .completed, actualLength: 3000, data: block.slice(0..<3000)))
        let data = try #require(sentData.withLock { $0.first } ?? nil)
        #expect(data.block === block && data.range == 0..<3000)
        guard case .submitReply(let reply)? = box.sent.withLock({ $0.first }) else {
            Issue.record("no RET_SUBMIT")
            return
        }
        #expect(reply.actualLength == 3000 && Array(reply.transferBuffer) == Array(block.slice(0..<3000)))
    }

    @Test func everyReplyIsSentWhenCompletionsRaceOnTwoThreads() throws {
        // Whichever thread finds another sending leaves its reply to it or sends it after
        // it: none may stay in the outbox.
        let (device, session, box) = makeSession()
        let count = 4000
        for seqnum in 1...UInt32(count) { try session.handle(bulkIn(seqnum)) }
        let group = DispatchGroup()
        for half in 0..<2 {
            DispatchQueue(label: "completer \(half)").async(group: group) {
                for i in stride(from: half, to: count, by: 2) { device.transfer(i).complete(.completed, data: [7]) }
            }
        }
        group.wait()
        let seqnums = box.sent.withLock { sent in
            sent.compactMap { message -> UInt32? in
                guard case .submitReply(let reply) = message else { return nil }
                return reply.seqnum
            }
        }
        #expect(Set(seqnums) == Set(1...UInt32(count)))
        #expect(seqnums.count == count)
        #expect(session.inFlightCount == 0)
    }

    @Test func endCancelsWhatIsInFlightAndWaitsForTheCompletions() throws {
        let (_, session, _) = makeSession(FakeDevice(cancelCompletes: true))
        for seqnum in UInt32(1)...5 { try session.handle(bulkIn(seqnum)) }
        #expect(session.inFlightCount == 5)
        session.end()
        #expect(session.inFlightCount == 0)
    }

    @Test func moreURBsInFlightThanTheCapIsAProtocolError() throws {
        let (_, session, _) = makeSession()
        for seqnum in 1...UInt32(ImportSession.maxInFlight) { try session.handle(bulkIn(seqnum)) }
        #expect(throws: ImportSession.ProtocolError.self) {
            try session.handle(bulkIn(UInt32(ImportSession.maxInFlight) + 1))
        }
    }

    @Test func aSeqnumAlreadyInFlightIsAProtocolError() throws {
        let (_, session, _) = makeSession()
        try session.handle(bulkIn(1))
        #expect(throws: ImportSession.ProtocolError.self) { try session.handle(bulkIn(1)) }
    }

    @Test func aURBBeyondTheImportsShareOfUSBFSMemoryIsAnsweredENOMEMInOrder() throws {
        let (device, session, box) = makeSession(share: 1024)
        try session.handle(bulkIn(1, length: 512))
        try session.handle(bulkIn(2, length: 512))
        try session.handle(bulkIn(3, length: 1))  // 1025 bytes: over the share
        #expect(box.sent.withLock { $0 }.count == 1)
        guard case .submitReply(let refused) = box.sent.withLock({ $0 }).first else {
            Issue.record("no reply")
            return
        }
        #expect(refused.seqnum == 3 && refused.status == URBStatus.noMemory)
        // Room again once a URB completes.
        device.transfer(0).complete(.completed, data: [1])
        try session.handle(bulkIn(4, length: 512))
        #expect(session.inFlightCount == 2)
    }

    @Test func theShareIsAQuarterOfUSBFSMemoryAndNoneWhenUnlimited() throws {
        let directory = scratchDirectory("usbfs")
        let parameter = directory + "/usbfs_memory_mb"
        try write("16\n", to: parameter)
        #expect(USBIPExporter.readUSBFSShare(parameter: parameter) == 4 << 20)
        try write("0\n", to: parameter)
        #expect(USBIPExporter.readUSBFSShare(parameter: parameter) == nil)
        #expect(USBIPExporter.readUSBFSShare(parameter: directory + "/absent") == nil)
    }

    @Test func aShortReadWithShortNotOKReportsRemoteIO() throws {
        let (device, session, box) = makeSession()
        try session.handle(
            .submit(
                SubmitCommand(
                    seqnum: 1, devid: 0x10002, direction: .in, ep: 1, transferFlags: 0x0001,
                    transferBufferLength: 512)))
        device.transfer(0).complete(.completed, data: [1, 2])
        guard case .submitReply(let reply) = box.sent.withLock({ $0 }).first else {
            Issue.record("no reply")
            return
        }
        #expect(reply.status == URBStatus.remoteIO && reply.actualLength == 2)
    }

    @Test func aVanishedDeviceEndsTheImport() throws {
        let (device, session, box) = makeSession()
        try session.handle(bulkIn(1))
        device.transfer(0).complete(.noDevice)
        #expect(box.gone.load(ordering: .relaxed) == 1)
    }

    @Test func aURBForAnotherDeviceIsAProtocolError() {
        let (_, session, _) = makeSession()
        #expect(throws: ImportSession.ProtocolError.self) {
            try session.handle(
                .submit(SubmitCommand(seqnum: 1, devid: 1, direction: .in, ep: 1, transferBufferLength: 8)))
        }
    }
}
