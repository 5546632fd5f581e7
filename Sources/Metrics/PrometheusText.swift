// Prometheus' text exposition format, version 0.0.4 (prometheus.io/docs/instrumenting/
// exposition_formats): "# HELP", "# TYPE", then one `name{label="value"} number` line per
// sample. Written here rather than with swift-prometheus: its current release needs
// swift-tools 6.2, and the Pi's binary is built with Debian 13's Swift 6.0.

/// One metric and its samples, gathered when scraped.
public struct Metric: Sendable {
    public enum Kind: String, Sendable { case counter, gauge }

    public let name: String
    public let help: String
    public let kind: Kind
    public let samples: [(labels: [(String, String)], value: Double)]

    public init(_ name: String, _ kind: Kind, _ help: String, samples: [(labels: [(String, String)], value: Double)]) {
        precondition(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }

    public init(_ name: String, _ kind: Kind, _ help: String, value: Double) {
        self.init(name, kind, help, samples: [([], value)])
    }
}

public enum PrometheusText {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ metrics: [Metric]) -> String {
        var out = ""
        for metric in metrics {
            out += "# HELP \(metric.name) \(escape(metric.help, quote: false))\n"
            out += "# TYPE \(metric.name) \(metric.kind.rawValue)\n"
            for sample in metric.samples {
                let labels =
                    sample.labels.isEmpty
                    ? ""
                    : "{" + sample.labels.map { "\($0.0)=\"\(escape($0.1, quote: true))\"" }.joined(separator: ",")
                        + "}"
                out += "\(metric.name)\(labels) \(format(sample.value))\n"
            }
        }
        return out
    }

    /// Backslash and newline (and, in label values, the double quote) are escaped.
    static func escape(_ text: String, quote: Bool) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quote: out += "\\\""
            default: out.append(character)
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
