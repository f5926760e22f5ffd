import Foundation
import Logging

/// A swift-log handler that writes through an `EventWriter`: to the journal with metadata as fields, or to
/// standard error. Metadata key `message_id` becomes `MESSAGE_ID`; any other key `k` becomes `ESCALATOR_K`.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let writer: EventWriter

    public init(writer: EventWriter) { self.writer = writer }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// A journal field name for a metadata key.
    static func fieldName(_ key: String) -> String {
        if key.lowercased() == "message_id" { return "MESSAGE_ID" }
        let cleaned = key.uppercased().unicodeScalars.map { ("A"..."Z").contains($0) || ("0"..."9").contains($0) ? Character($0) : "_" }
        return "ESCALATOR_" + String(cleaned)
    }

    public func log(event: LogEvent) {
        var fields: [(name: String, value: String)] = []
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
            fields.append((Self.fieldName(key), "\(value)"))
        }
        if writer.mode == .journal {
            fields += [("CODE_FILE", event.file), ("CODE_LINE", String(event.line)), ("CODE_FUNC", event.function)]
        }
        writer.write(priority: Self.priority(event.level), message: "\(event.message)", fields: fields)
    }
}
