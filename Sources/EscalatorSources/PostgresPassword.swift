import EscalatorConfig
import Foundation

/// Reads the PostgreSQL password from where the configuration says. The password never comes from the command
/// line or the rule files, and it is never logged: errors name the file, not its content.
enum PostgresPassword {
    static func read(_ settings: PostgresEndpoint, environment: [String: String]) throws -> String? {
        switch settings.password {
        case .none:
            return nil
        case .file(let path):
            return try firstLine(of: path, what: "password_file")
        case .credential(let name):
            guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else {
                throw SourceError("read credential \(name)", "$CREDENTIALS_DIRECTORY is not set; is LoadCredential=\(name):… in the unit?")
            }
            return try firstLine(of: "\(directory)/\(name)", what: "credential \(name)")
        case .passfile(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw SourceError("read passfile", "cannot read \(path)")
            }
            let host = settings.unixSocket ?? settings.host
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let fields = splitPassfileLine(String(line))
                guard fields.count == 5 else { continue }
                let wanted = [host, String(settings.port), settings.database ?? "*", settings.user ?? "*"]
                if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
            }
            throw SourceError("read passfile", "no line in \(path) matches \(host):\(settings.port):\(settings.database ?? "*"):\(settings.user ?? "*")")
        }
    }

    private static func firstLine(of path: String, what: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SourceError("read \(what)", "cannot read \(path)")
        }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let password = line.hasSuffix("\r") ? String(line.dropLast()) : line
        if password.isEmpty { throw SourceError("read \(what)", "\(path) is empty") }
        return password
    }

    /// Splits a .pgpass line on unescaped colons; `\:` and `\\` are literal.
    static func splitPassfileLine(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for ch in line {
            if escaped {
                current.append(ch)
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else if ch == ":" {
                fields.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        fields.append(current)
        return fields
    }
}
