import EscalatorCore
import Foundation

extension RulesBuilder {
    static let sourceKeys = ["driver", "path"] + PostgresEndpoint.keys + ["poll_every", "full_resync_every", "timezone", "timestamps", "cases", "activity", "directory"]
    static let sourceHints = ["password": "a password never goes in a rule file; use password_file, password_credential or passfile"]

    func buildSource() -> SourceSettings? {
        guard let node = section("source"), !node.isNull, let mapping = YAMLMapping(node, "\"source\"", sink) else { return nil }
        mapping.allowOnly(Self.sourceKeys, hint: Self.sourceHints)
        var ok = true
        func span(_ key: String, _ fallback: Span, positive: Bool = true) -> Span {
            guard let value = mapping[key], !value.isNull else { return fallback }
            guard let parsed = sink.span(value, key) else {
                ok = false
                return fallback
            }
            if positive, parsed.isZero || parsed.isBusiness {
                sink.error(value, "\(key) must be a wall-clock duration longer than zero, e.g. \"1m\"")
                ok = false
                return fallback
            }
            return parsed
        }
        func path(_ text: String) -> String { text.hasPrefix("/") ? text : "\(directory)/\(text)" }

        var driver = SourceSettings.Driver.sqlite
        if let value = mapping.require("driver"), let name = sink.text(value, "driver") {
            if let parsed = SourceSettings.Driver(rawValue: name) {
                driver = parsed
            } else {
                reportUnknown(value, "driver", name, among: SourceSettings.Driver.allCases.map(\.rawValue))
                ok = false
            }
        } else {
            ok = false
        }
        let sqlitePath = mapping.optionalText("path", ok: &ok).map(path)
        if driver == .sqlite, sqlitePath == nil, mapping["driver"] != nil {
            sink.error(mapping.node, "\"source\" with driver sqlite needs \"path\" (the database file)")
            ok = false
        }
        let endpoint = buildEndpoint(mapping)
        if endpoint == nil { ok = false }
        var zone = TimeZone(identifier: "UTC")!
        if let value = mapping["timezone"], let id = sink.text(value, "timezone") {
            if let parsed = TimeZone(identifier: id) { zone = parsed } else {
                reportUnknown(value, "time zone", id, among: TimeZone.knownTimeZoneIdentifiers)
                ok = false
            }
        }

        var timestamps = SourceSettings.TimestampForm.any
        if let name = mapping.optionalText("timestamps", ok: &ok) {
            if let parsed = SourceSettings.TimestampForm(rawValue: name) { timestamps = parsed } else {
                reportUnknown(mapping["timestamps"]!, "timestamp form", name, among: SourceSettings.TimestampForm.allCases.map(\.rawValue))
                ok = false
            }
        }

        // Queries.
        var attributes: [String] = []
        var change: SourceSettings.Change?
        var cases: SourceSettings.Query?
        if let node = mapping.require("cases"), let query = YAMLMapping(node, "source.cases", sink) {
            query.allowOnly(["query", "columns", "attributes", "changed_at", "version", "overlap"])
            cases = parseQuery(query, fields: SourceSettings.caseFields)
            if let value = query["attributes"], !value.isNull { attributes = sink.texts(value, "attributes") ?? [] }
            let timestamp = query["changed_at"].flatMap { sink.text($0, "changed_at") }
            let version = query["version"].flatMap { sink.text($0, "version") }
            if timestamp != nil, version != nil, let key = query.keyNode("version") {
                sink.error(key, "at most one of changed_at and version may be set")
                ok = false
            } else if let timestamp {
                var overlap = Span.wall(seconds: 300)
                if let value = query["overlap"], let parsed = sink.span(value, "overlap") {
                    if parsed.isBusiness {
                        sink.error(value, "overlap must be a wall-clock duration, e.g. \"5m\"")
                        ok = false
                    }
                    overlap = parsed
                }
                change = .timestamp(column: timestamp, overlap: overlap)
            } else if let version {
                var overlap: Int64 = 0
                if let value = query["overlap"], let text = sink.text(value, "overlap") {
                    if let count = Int64(text), count >= 0 { overlap = count } else {
                        sink.error(value, "with a version column, overlap is a number of versions, found \"\(text)\"")
                        ok = false
                    }
                }
                change = .version(column: version, overlap: overlap)
            } else {
                sink.warning(query.node, "source.cases has neither changed_at nor version: every poll reads every case")
            }
            if cases == nil { ok = false }
        } else {
            ok = false
        }
        var activity: SourceSettings.Query?
        var kindNames: [String: Activity.Kind] = [:]
        if let node = mapping["activity"], !node.isNull, let query = YAMLMapping(node, "source.activity", sink) {
            query.allowOnly(["query", "columns", "kinds"])
            activity = parseQuery(query, fields: SourceSettings.activityFields)
            if activity == nil { ok = false }
            if let kinds = query["kinds"], let table = YAMLMapping(kinds, "source.activity.kinds", sink) {
                for (key, value) in table.entries {
                    guard let name = key.scalar, let kindName = sink.text(value, "an activity kind") else { continue }
                    if let kind = Activity.Kind(rawValue: kindName) {
                        kindNames[name] = kind
                    } else {
                        reportUnknown(value, "activity kind", kindName, among: Activity.Kind.allCases.map(\.rawValue))
                        ok = false
                    }
                }
            }
        }
        var directoryQuery: SourceSettings.Query?
        if let node = mapping["directory"], !node.isNull, let query = YAMLMapping(node, "source.directory", sink) {
            query.allowOnly(["query", "columns"])
            directoryQuery = parseQuery(query, fields: SourceSettings.directoryFields)
            if directoryQuery == nil { ok = false }
        }

        let settings = SourceSettings(
            driver: driver, path: sqlitePath, endpoint: endpoint ?? PostgresEndpoint(), pollEvery: span("poll_every", .wall(seconds: 60)),
            fullResyncEvery: span("full_resync_every", .wall(seconds: 3600)), timeZone: zone, timestamps: timestamps, cases: cases ?? .init(sql: "", columns: [:]),
            attributes: attributes, change: change, activity: activity, kindNames: kindNames, directory: directoryQuery)
        return ok ? settings : nil
    }

    private func parseQuery(_ mapping: YAMLMapping, fields: [String]) -> SourceSettings.Query? {
        guard let node = mapping.require("query"), let sql = sink.text(node, "query") else { return nil }
        var columns: [String: String] = [:]
        if let node = mapping["columns"], !node.isNull, let table = YAMLMapping(node, "\(mapping.what).columns", sink) {
            table.allowOnly(fields)
            for (key, value) in table.entries {
                guard let field = key.scalar, fields.contains(field), let column = sink.text(value, field) else { continue }
                columns[field] = column
            }
        }
        return SourceSettings.Query(sql: sql, columns: columns)
    }
}
