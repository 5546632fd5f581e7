/// A message's wire bytes as one or two pieces that follow each other (a reply's header,
/// then its data where it lies), without an array to hold them: a writer gathers them in
/// one send, or frames each, and nothing is allocated for the list.
public struct WireParts: RandomAccessCollection, Sendable {
    // Not `first`/`last`: those are Collection's, optional.
    public let leading: ArraySlice<UInt8>
    public let trailing: ArraySlice<UInt8>?

    public init(_ leading: ArraySlice<UInt8>, _ trailing: ArraySlice<UInt8>? = nil) {
        self.leading = leading
        self.trailing = trailing
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { trailing == nil ? 1 : 2 }

    public subscript(position: Int) -> ArraySlice<UInt8> {
        position == 0 ? leading : trailing ?? []
    }
}
