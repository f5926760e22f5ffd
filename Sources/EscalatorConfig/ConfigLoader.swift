import EscalatorCore
import Foundation
import Yams

/// A loaded configuration directory: the rules plus what `check` summarises.
public struct Configuration: Sendable {
    public let directory: String
    public let rules: Rules
    /// How to read the order database; nil when the directory has no `source` section.
    public let source: SourceSettings?
    /// How notices are mailed; nil when the directory has no `mail` section (journal only).
    public let mail: MailSettings?
    /// Where the daemon keeps its state.
    public let state: StateSettings
    /// The files read, in load order.
    public let files: [String]
}

/// Reads a configuration directory (`escalator.yaml`, then `rules.d/*.yaml` in name order) into `Rules`.
///
/// Every problem is collected in one pass. The daemon, `check` and every other tool load rules through here.
public enum ConfigLoader {
    public struct Result: Sendable {
        /// Nil when there is any error.
        public let configuration: Configuration?
        public let diagnostics: [Diagnostic]
    }

    /// The top-level sections a rule file may hold.
    static let sections = ["defaults", "calendars", "people", "raci", "ladder", "ladders", "policies", "source", "mail", "state"]

    /// Loads and validates a configuration directory.
    public static func load(directory: String) -> Result {
        let sink = DiagnosticSink()
        let dir = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        let main = "\(dir)/escalator.yaml"
        var files: [String] = []
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) || !isDirectory.boolValue {
            sink.add(Diagnostic(.error, file: dir, line: 1, column: 1, message: "configuration directory not found"))
            return Result(configuration: nil, diagnostics: sink.items)
        }
        if FileManager.default.fileExists(atPath: main) {
            files.append(main)
        } else {
            sink.add(Diagnostic(.error, file: main, line: 1, column: 1, message: "escalator.yaml is missing: every configuration directory needs one"))
        }
        let rulesDir = "\(dir)/rules.d"
        if let names = try? FileManager.default.contentsOfDirectory(atPath: rulesDir) {
            for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                files.append("\(rulesDir)/\(name)")
            }
            for name in names.sorted() where !(name.hasSuffix(".yaml") || name.hasSuffix(".yml") || name.hasPrefix(".")) {
                sink.add(Diagnostic(.warning, file: "\(rulesDir)/\(name)", line: 1, column: 1, message: "ignored: only *.yaml files in rules.d are loaded"))
            }
        }

        let snapshot = FileSnapshot()
        let documents = files.compactMap { read($0, sink, snapshot) }
        let builder = RulesBuilder(directory: dir, documents: documents, sink: sink, files: snapshot)
        let rules = builder.build().map { [files] rules in
            // Built again from the same bytes for each core that evaluates (`Rules.withReplica`).
            rules.replicable { rebuild(directory: dir, files: files, snapshot: snapshot) }
        }
        let source = builder.buildSource()
        let mail = builder.buildMail()
        let state = builder.buildState()
        let sorted = sink.items.enumerated().sorted { a, b in
            let (x, y) = (a.element, b.element)
            let fx = files.firstIndex(of: x.file) ?? Int.max
            let fy = files.firstIndex(of: y.file) ?? Int.max
            return (fx, x.file, x.line, x.column, a.offset) < (fy, y.file, y.line, y.column, b.offset)
        }.map(\.element)
        let configuration = sorted.errorCount == 0 ? rules.map { Configuration(directory: dir, rules: $0, source: source, mail: mail, state: state, files: files) } : nil
        return Result(configuration: configuration, diagnostics: sorted)
    }

    /// The rules built again from the bytes a load read; nil if they no longer build without error (they do: the
    /// bytes and the builder are the same).
    static func rebuild(directory: String, files: [String], snapshot: FileSnapshot) -> Rules? {
        let sink = DiagnosticSink()
        let documents = files.compactMap { read($0, sink, snapshot) }
        let rules = RulesBuilder(directory: directory, documents: documents, sink: sink, files: snapshot).build()
        guard sink.items.errorCount == 0 else { return nil }
        return rules
    }

    /// Reads one file as a YAML mapping, reporting bad UTF-8 and YAML syntax errors with their position.
    static func read(_ path: String, _ sink: DiagnosticSink, _ snapshot: FileSnapshot) -> YAMLNode? {
        guard let data = snapshot.contents(atPath: path) else {
            sink.add(Diagnostic(.error, file: path, line: 1, column: 1, message: "cannot read the file"))
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            let (line, column) = firstInvalidUTF8(data)
            sink.add(Diagnostic(.error, file: path, line: line, column: column, message: "the file is not valid UTF-8"))
            return nil
        }
        do {
            guard let node = try Yams.compose(yaml: text) else { return nil }  // an empty file
            let root = YAMLNode(node: node, file: path)
            guard root.entries != nil else {
                if !root.isNull { sink.error(root, "a rule file must be a mapping of sections (\(sections.joined(separator: ", "))), found \(root.shape)") }
                return nil
            }
            return root
        } catch let error as YamlError {
            sink.add(yamlDiagnostic(error, path))
            return nil
        } catch {
            sink.add(Diagnostic(.error, file: path, line: 1, column: 1, message: "cannot parse: \(error)"))
            return nil
        }
    }

    static func yamlDiagnostic(_ error: YamlError, _ path: String) -> Diagnostic {
        func make(_ mark: Mark, _ message: String) -> Diagnostic {
            Diagnostic(.error, file: path, line: mark.line, column: mark.column, message: message)
        }
        func context(_ context: YamlError.Context?) -> String {
            context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
        }
        switch error {
        case .scanner(let ctx, let problem, let mark, _):
            return make(mark, "YAML syntax: \(problem)\(context(ctx))")
        case .parser(let ctx, let problem, let mark, _):
            return make(mark, "YAML syntax: \(problem)\(context(ctx))")
        case .composer(let ctx, let problem, let mark, _):
            return make(mark, "YAML: \(problem)\(context(ctx))")
        case .duplicatedKeysInMapping(let duplicates, let ctx):
            let names = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return make(ctx.mark, "duplicate key \(names) in one mapping")
        case .reader(let problem, _, _, _):
            return Diagnostic(.error, file: path, line: 1, column: 1, message: "YAML: \(problem)")
        default:
            return Diagnostic(.error, file: path, line: 1, column: 1, message: "YAML: \(error)")
        }
    }

    /// The 1-based line and column of the first byte that breaks UTF-8.
    static func firstInvalidUTF8(_ data: Data) -> (Int, Int) {
        let bytes = [UInt8](data)
        var line = 1
        var column = 1
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let length: Int
            switch byte {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return (line, column)
            }
            guard index + length <= bytes.count,
                String(bytes: bytes[index..<index + length], encoding: .utf8) != nil
            else { return (line, column) }
            if byte == 0x0A {
                line += 1
                column = 1
            } else {
                column += 1
            }
            index += length
        }
        return (line, column)
    }
}

extension Configuration {
    /// One line saying what was loaded, e.g. "2 calendars, 5 people, 7 policies from 4 files".
    public var summary: String {
        func count(_ n: Int, _ noun: String, _ plural: String) -> String { "\(n) \(n == 1 ? noun : plural)" }
        let calendars = rules.calendars.count - 1  // the built-in 24x7 is always there
        return [
            count(calendars, "calendar", "calendars"),
            count(rules.directory.people.count, "person", "people"),
            count(rules.raci.byKind.count, "RACI kind", "RACI kinds"),
            count(rules.policies.count, "policy", "policies"),
        ].joined(separator: ", ") + " from " + count(files.count, "file", "files")
    }
}
