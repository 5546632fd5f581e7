/// A message's wire bytes as one or two pieces that follow each other (a reply's header,
/// then its data where it lies), without an array to hold them: a writer gathers them in
/// one send, or frames each, and nothing is allocated for the list.
public struct WireParts: RandomAccessCollection, Sendable {
    public let first: ArraySlice<UInt8>
    public let second: ArraySlice<UInt8>?

    public init(_ first: ArraySlice<UInt8>, _ second: ArraySlice<UInt8>? = nil) {
        self.first = first
        self.second = second
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { second == nil ? 1 : 2 }

    public subscript(position: Int) -> ArraySlice<UInt8> {
        position == 0 ? first : second ?? []
    }

    /// Their bytes in all.
    public var byteCount: Int { first.count + (second?.count ?? 0) }
}
