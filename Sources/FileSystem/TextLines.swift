extension StringProtocol {
    /// The lines of a text file, whether they end in LF or CRLF (a file edited on
    /// Windows, or on the FAT boot partition). Swift reads "\r\n" as one Character, so
    /// splitting on "\n" alone would take a whole CRLF file for a single line.
    public var fileLines: [SubSequence] {
        split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    }
}
