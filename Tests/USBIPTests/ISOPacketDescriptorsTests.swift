import Testing

@testable import USBIP

@Suite struct ISOPacketDescriptorsTests {
    @Test func descriptorsReadBackInOrder() {
        let list = [
            ISOPacketDescriptor(offset: 0, length: 10, actualLength: 3, status: 0),
            ISOPacketDescriptor(offset: 10, length: 10, actualLength: 10, status: -18),
        ]
        let descriptors = ISOPacketDescriptors(list)
        #expect(Array(descriptors) == list)
        #expect(descriptors.wireBytes.count == 32)
    }

    @Test func wireOrderIsOffsetLengthActualLengthStatus() {
        let d = ISOPacketDescriptors([ISOPacketDescriptor(offset: 1, length: 2, actualLength: 3, status: -1)])
        #expect(Array(d.wireBytes) == hexBytes("00000001 00000002 00000003 ffffffff"))
    }

    @Test func emptyMeansNotIsochronous() {
        #expect(ISOPacketDescriptors().isEmpty)
    }
}
