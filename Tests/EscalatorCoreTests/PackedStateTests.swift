import EscalatorCore
import Foundation
import Testing

@Suite struct PackedStateTests {
    /// Seeded random states, with everything a state can hold (notice ids the engine's way, another way and none;
    /// text beyond ASCII; negative and large numbers; times with fractions and far from now) come back equal, and
    /// the in-place reading agrees with the unpacked state.
    @Test func everyStateComesBackExactlyAndIsReadInPlaceAlike() throws {
        let shelf = try Shelf(directory: NSTemporaryDirectory())
        var random = SplitMix64(state: 4_096)
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        func time() -> Date {
            pick([Date.distantPast, .distantFuture, Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: Double(random.next() % 4_000_000_000) / 3)])
        }
        let texts = ["", "first-response", "promised-delivery", "waiting-1772355600", "Renée Ünicode", "a/b.c", "😀", String(repeating: "x", count: 200)]
        for round in 0..<3_000 {
            let caseID = pick(["ORD-0000001", "TT-1001", "é/1", ""])
            var occurrences: [EscalationState.Occurrence] = []
            for _ in 0..<Int(random.next() % 5) {
                var occurrence = EscalationState.Occurrence(
                    policy: pick(texts), clock: pick(texts), ordinal: pick([1, 2, 300, -5, Int.max, Int.min]),
                    subject: pick([nil, "p1", "Renée"]), startedAt: time(), breachAt: pick([nil, time()]), taken: [], notified: [],
                    clearedAt: pick([nil, time()]))
                for _ in 0..<Int(random.next() % 6) {
                    let step = pick([1, 2, 4, 0, -1])
                    let repeatNumber = pick([0, 0, 3, 10_000])
                    let label = repeatNumber == 0 ? "step\(step)" : "step\(step).r\(repeatNumber)"
                    let noticeID = pick([nil, "\(caseID)/\(occurrence.policy)/\(occurrence.id)/\(label)", "other/\(label)", ""])
                    occurrence.taken.append(EscalationState.TakenStep(step: step, repeatNumber: repeatNumber, dueAt: time(), takenAt: time(), noticeID: noticeID))
                }
                occurrence.notified = (0..<Int(random.next() % 4)).map { _ in pick(["rep3", "sup1", "Renée", ""]) }
                occurrences.append(occurrence)
            }
            let acknowledgements = (0..<Int(random.next() % 3)).map { _ in
                Acknowledgement(policy: pick([nil, "first-response"]), by: pick(["rep5", "é"]), at: time(), until: time(), note: pick([nil, "", "on it\nnow"]))
            }
            let state = EscalationState(occurrences: occurrences, acknowledgements: acknowledgements)
            let packed = PackedState(state, caseID: caseID)
            #expect(packed.unpacked(caseID: caseID) == state, "round \(round)")
            let shelved = packed.shelved(on: shelf)
            #expect(shelved.unpacked(caseID: caseID) == state && shelved.size == packed.size, "round \(round), shelved")
            var scanned: [(String, Date?, Bool)] = []
            packed.scanOccurrences { policy, breachAt, cleared in scanned.append((String(decoding: policy, as: UTF8.self), breachAt, cleared)) }
            #expect(scanned.map(\.0) == occurrences.map(\.policy) && scanned.map(\.1) == occurrences.map(\.breachAt))
            #expect(scanned.map(\.2) == occurrences.map { $0.clearedAt != nil })
            #expect(packed.isAllCleared == occurrences.allSatisfy { $0.clearedAt != nil })
        }
    }

    /// What the packing is for: a state such as the first tick leaves (four occurrences of four steps, a notice
    /// each) takes a few hundred bytes, not the 2.9 KB it took as structs.
    @Test func aTypicalStatePacksIntoAFewHundredBytes() {
        let caseID = "ORD-0001234"
        let start = Date(timeIntervalSince1970: 1_772_355_600)
        let occurrences = ["first-response", "promised-delivery", "stalled-order", "answer-the-customer"].enumerated().map { index, policy in
            var occurrence = EscalationState.Occurrence(
                policy: policy, clock: "since-\(1_772_355_600 + index)", ordinal: 1, subject: nil, startedAt: start,
                breachAt: start.addingTimeInterval(3600), taken: [], notified: ["rep3", "sup1"], clearedAt: nil)
            for step in 1...4 {
                let id = step == 4 ? "\(caseID)/\(policy)/\(occurrence.id)/step4" : nil
                occurrence.taken.append(.init(step: step, repeatNumber: 0, dueAt: start.addingTimeInterval(Double(step) * 3600), takenAt: start.addingTimeInterval(90_000), noticeID: id))
            }
            return occurrence
        }
        let packed = PackedState(EscalationState(occurrences: occurrences), caseID: caseID)
        #expect(packed.size < 500, "\(packed.size) bytes")
        #expect(packed.unpacked(caseID: caseID).occurrences == occurrences)
    }

    /// The notice ids the engine records are the ones the packing rebuilds, so each costs one byte: the state
    /// packs to the same size as with no notice ids at all.
    @Test func theEnginesNoticeIdsPackAsOneByte() {
        let subject = EngineTests.order()
        let result = Engine.evaluate(subject, rules: rules([EngineTests.keepInformed]), state: .empty, now: at("2026-03-06 12:00"))
        #expect(result.state.occurrences.flatMap(\.taken).contains { $0.noticeID != nil })
        var stripped = result.state
        for index in stripped.occurrences.indices {
            stripped.occurrences[index].taken = stripped.occurrences[index].taken.map {
                .init(step: $0.step, repeatNumber: $0.repeatNumber, dueAt: $0.dueAt, takenAt: $0.takenAt, noticeID: nil)
            }
        }
        #expect(PackedState(result.state, caseID: subject.id).size == PackedState(stripped, caseID: subject.id).size)
    }
}
