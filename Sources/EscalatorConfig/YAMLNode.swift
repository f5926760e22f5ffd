import EscalatorCore
import Foundation
import Yams

/// A YAML node together with the file it came from, so every diagnostic can name file, line and column.
struct YAMLNode {
    let node: Node
    let file: String

    var line: Int { node.mark?.line ?? 1 }
    var column: Int { node.mark?.column ?? 1 }

    /// The text of a scalar; nil for mappings and lists.
    var scalar: String? {
        if case .scalar(let scalar) = node { return scalar.string }
        return nil
    }

    var isNull: Bool {
        if case .scalar(let scalar) = node {
            return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
        }
        return false
    }

    var entries: [(key: YAMLNode, value: YAMLNode)]? {
        guard case .mapping(let mapping) = node else { return nil }
        return mapping.map { (YAMLNode(node: $0.key, file: file), YAMLNode(node: $0.value, file: file)) }
    }

    var items: [YAMLNode]? {
        guard case .sequence(let sequence) = node else { return nil }
        return sequence.map { YAMLNode(node: $0, file: file) }
    }

    /// "a mapping", "a list", "a text value": for "expected X, found Y" messages.
    var shape: String {
        switch node {
        case .scalar: return isNull ? "nothing" : "a value (\"\(scalar ?? "")\")"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

/// Collects diagnostics while a configuration is read; nothing stops at the first problem.
final class DiagnosticSink {
    private(set) var items: [Diagnostic] = []

    func error(_ at: YAMLNode, _ message: String) {
        items.append(Diagnostic(.error, file: at.file, line: at.line, column: at.column, message: message))
    }

    func warning(_ at: YAMLNode, _ message: String) {
        items.append(Diagnostic(.warning, file: at.file, line: at.line, column: at.column, message: message))
    }

    func add(_ diagnostic: Diagnostic) { items.append(diagnostic) }
}

/// The files a load read, as they were read: the rules are built again from exactly these bytes (see
/// `Rules.replicable`), whatever has happened to the files since.
final class FileSnapshot: @unchecked Sendable {
    private let lock = NSLock()
    private var contents: [String: Data?] = [:]

    /// The file's bytes as first read; nil when it could not be read then.
    func contents(atPath path: String) -> Data? {
        lock.lock()
        defer { lock.unlock() }
        if let known = contents[path] { return known }
        let read = FileManager.default.contents(atPath: path)
        contents[path] = .some(read)
        return read
    }
}

/// The keys of a YAML mapping, read with checks: unknown keys get a did-you-mean, missing ones are named.
struct YAMLMapping {
    let node: YAMLNode
    let entries: [(key: YAMLNode, value: YAMLNode)]
    let what: String
    let sink: DiagnosticSink

    /// Reads `node` as a mapping; reports and returns nil if it is something else.
    init?(_ node: YAMLNode, _ what: String, _ sink: DiagnosticSink) {
        guard let entries = node.entries else {
            sink.error(node, "\(what) must be a mapping, found \(node.shape)")
            return nil
        }
        self.node = node
        self.entries = entries
        self.what = what
        self.sink = sink
    }

    var keys: [String] { entries.compactMap { $0.key.scalar } }

    subscript(key: String) -> YAMLNode? {
        entries.first { $0.key.scalar == key }?.value
    }

    /// Reports every key not in `allowed`, with the closest allowed key as a suggestion.
    func allowOnly(_ allowed: [String], hint: [String: String] = [:]) {
        for (key, _) in entries {
            guard let name = key.scalar else {
                sink.error(key, "keys of \(what) must be plain names, found \(key.shape)")
                continue
            }
            if allowed.contains(name) { continue }
            var message = "unknown key \"\(name)\" in \(what)"
            if let special = hint[name] {
                message += "; \(special)"
            } else if let guess = Suggest.closest(to: name, among: allowed) {
                message += "; did you mean \"\(guess)\"?"
            } else {
                message += " (expected one of: \(allowed.joined(separator: ", ")))"
            }
            sink.error(key, message)
        }
    }

    /// The value of a required key; reports its absence at the mapping.
    func require(_ key: String) -> YAMLNode? {
        if let value = self[key], !value.isNull { return value }
        sink.error(node, "\(what) is missing \"\(key)\"")
        return nil
    }

    /// An optional key's text: nil when absent or null. A value of another shape is reported and clears `ok`.
    func optionalText(_ key: String, ok: inout Bool) -> String? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let text = sink.text(value, key) else {
            ok = false
            return nil
        }
        return text
    }

    /// The key node for `key`, for diagnostics that point at the key rather than the value.
    func keyNode(_ key: String) -> YAMLNode? { entries.first { $0.key.scalar == key }?.key }
}

extension DiagnosticSink {
    /// A scalar's text; reports other shapes.
    func text(_ node: YAMLNode, _ what: String) -> String? {
        guard let text = node.scalar, !node.isNull else {
            error(node, "\(what) must be a single value, found \(node.shape)")
            return nil
        }
        if let bad = text.unicodeScalars.first(where: { $0.properties.generalCategory == .control && $0 != "\t" }) {
            let code = "U+" + String(bad.value, radix: 16, uppercase: true).leftPadded(4)
            let why = bad == "\r" || bad == "\n" ? ": line breaks could forge mail headers" : ""
            error(node, "\(what) contains a control character (\(code))\(why)")
            return nil
        }
        return text
    }

    /// A single value or a list of values, as nodes.
    func list(_ node: YAMLNode, _ what: String) -> [YAMLNode]? {
        if let items = node.items {
            for item in items where item.scalar == nil {
                error(item, "each entry of \(what) must be a single value, found \(item.shape)")
                return nil
            }
            return items
        }
        if node.scalar != nil, !node.isNull { return [node] }
        error(node, "\(what) must be a value or a list of values, found \(node.shape)")
        return nil
    }

    func texts(_ node: YAMLNode, _ what: String) -> [String]? {
        guard let items = list(node, what) else { return nil }
        let values = items.compactMap { text($0, what) }
        return values.count == items.count ? values : nil
    }

    func span(_ node: YAMLNode, _ what: String) -> Span? {
        guard let text = text(node, what) else { return nil }
        switch Span.parse(text) {
        case .success(let span): return span
        case .failure(let failure):
            error(node, "\(what): \(failure.message)")
            return nil
        }
    }

    func bool(_ node: YAMLNode, _ what: String) -> Bool? {
        guard let text = text(node, what) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error(node, "\(what) must be true or false, found \"\(text)\"")
            return nil
        }
    }
}
