import EscalatorConfig
import EscalatorSources
import Foundation
import Testing

/// A thousand mechanical mutations of the shipped configuration: deleted, repeated and swapped lines,
/// truncations, wrong indentation, swapped value types, unknown keys, tabs and invalid UTF-8. Loading never
/// crashes, and whenever it refuses a configuration it says where, as file:line:column inside the directory.
@Suite struct MutationTests {
    /// The same seed gives the same mutations on every machine.
    typealias Random = SyntheticOrders.Random

    enum Mutation: CaseIterable {
        case deleteLine, repeatLine, swapLines, truncate, indentMore, indentLess, tabIndent, listForScalar, mappingForScalar,
            unknownKey, invalidUTF8, stray
    }

    static func mutate(_ data: [UInt8], _ kind: Mutation, _ random: inout Random) -> [UInt8] {
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let i = random.below(lines.count)
        switch kind {
        case .deleteLine: lines.remove(at: i)
        case .repeatLine: lines.insert(lines[i], at: i)
        case .swapLines: lines.swapAt(i, random.below(lines.count))
        case .truncate: return Array(data.prefix(random.below(data.count)))
        case .indentMore: lines[i] = "  " + lines[i]
        case .indentLess: lines[i] = String(lines[i].dropFirst(min(2, lines[i].prefix { $0 == " " }.count)))
        case .tabIndent: lines[i] = "\t" + lines[i]
        case .listForScalar, .mappingForScalar:
            if let colon = lines[i].range(of: ": ") {
                lines[i] = lines[i][..<colon.upperBound] + (kind == .listForScalar ? "[1, two, {x: 3}]" : "{ a: 1, b: [2] }")
            }
        case .unknownKey: lines.insert(String(repeating: " ", count: random.below(3) * 2) + "bogus_key_\(random.below(100)): 1", at: i)
        case .invalidUTF8:
            var bytes = data
            bytes.insert(contentsOf: [0xFF, 0xC3, 0x28], at: random.below(bytes.count + 1))
            return bytes
        case .stray: lines[i] += [" :", " - x", " &anchor", " *nothing", " \"open", " ]"][random.below(6)]
        }
        return Array(lines.joined(separator: "\n").utf8)
    }

    @Test func aThousandMutationsNeverCrashAndAlwaysSayWhere() throws {
        let root = NSTemporaryDirectory() + "escalator-mutations-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.copyItem(atPath: "\(repositoryRoot)/Config", toPath: root)
        let files = ["\(root)/escalator.yaml"] + (try FileManager.default.contentsOfDirectory(atPath: "\(root)/rules.d")).sorted().map { "\(root)/rules.d/\($0)" }
        let originals = try files.map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) }
        var random = Random(state: 20_261_125)
        var refused = 0
        var counts: [String: Int] = [:]
        for round in 0..<1000 {
            let which = random.below(files.count)
            let kind = Mutation.allCases[random.below(Mutation.allCases.count)]
            let mutated = Self.mutate(originals[which], kind, &random)
            try Data(mutated).write(to: URL(fileURLWithPath: files[which]))
            defer { try? Data(originals[which]).write(to: URL(fileURLWithPath: files[which])) }
            let result = ConfigLoader.load(directory: root)
            counts["\(kind)", default: 0] += 1
            for diagnostic in result.diagnostics {
                #expect(diagnostic.file.hasPrefix(root) && diagnostic.line >= 1 && diagnostic.column >= 1, "round \(round) \(kind): \(diagnostic)")
            }
            if result.configuration == nil {
                refused += 1
                #expect(result.diagnostics.errorCount > 0, "round \(round) \(kind): refused without an error")
            } else {
                #expect(result.diagnostics.errorCount == 0)
            }
        }
        // Most mutations break something; every kind was tried.
        #expect(refused > 400, "only \(refused) of 1000 mutations were refused")
        #expect(counts.count == Mutation.allCases.count)
    }
}
