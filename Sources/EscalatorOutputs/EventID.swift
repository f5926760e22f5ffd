import EscalatorCore

/// The kinds of journal entry escalator writes, each with a fixed 128-bit MESSAGE_ID. The journal catalog
/// (`deploy/escalator.catalog`) explains each one; `journalctl -x` shows it.
public enum EventID: String, CaseIterable, Sendable {
    case warn, breach, escalate, `repeat`, clear, catchUp = "catch-up", ack
    case started, reloaded, reloadFailed = "reload-failed", sourceDown = "source-down", sourceUp = "source-up"
    case badRow = "bad-row"
    case standby, active

    public var messageID: String {
        switch self {
        case .warn: return "47df87d41068470e995d11ecbe027795"
        case .breach: return "d77673c8c7a8495e9f0e6185a30dbbbf"
        case .escalate: return "8e55a82045ec42a1ac861105ea1b14e3"
        case .repeat: return "fdccb09f111744b18bc694f22ffa581f"
        case .clear: return "3564891e50f54c00b9b2b16ab61cbc1f"
        case .catchUp: return "ba588d46179744ae8cec44b38a48c515"
        case .ack: return "0fecbb2116744fb4a4a743722a696e86"
        case .started: return "cf4a5752809044ba917b221af9c9327b"
        case .reloaded: return "f50a6edbd2b5434d96f4db3d68c6ffb9"
        case .reloadFailed: return "6b4be1d00d3d4673914b6984a93f7278"
        case .sourceDown: return "4bde412cd619438fb2bf01a9ed65a76d"
        case .sourceUp: return "6fd8a4fdb61646279a2c474afe78f2d9"
        case .badRow: return "a36eaa4aa81d4b5eb1176c7e58a92644"
        case .standby: return "ded850e7b0374973bdda334eb6e86251"
        case .active: return "ca5f394a9dd849c29716a14e9c57620f"
        }
    }

    public init(_ trigger: Notice.Trigger) {
        switch trigger {
        case .warn: self = .warn
        case .breach: self = .breach
        case .escalate: self = .escalate
        case .repeat: self = .repeat
        case .clear: self = .clear
        case .catchUp: self = .catchUp
        }
    }
}
