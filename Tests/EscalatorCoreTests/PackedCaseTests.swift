import EscalatorCore
import Foundation
import Testing

@Suite struct PackedCaseTests {
    /// Seeded random cases, with every field set or not, text beyond ASCII, attributes and activity of every kind,
    /// come back equal, activity in the same order, and keep their closing time outside the bytes.
    @Test func everyCaseComesBackExactly() throws {
        let shelf = try Shelf(directory: NSTemporaryDirectory())
        var random = SplitMix64(state: 7_331)
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        func time() -> Date { Date(timeIntervalSince1970: Double(random.next() % 4_000_000_000) / pick([1, 3])) }
        let texts: [String?] = [nil, "", "open", "in_production", "Renée Ünicode", "line\nbreak", "😀", String(repeating: "x", count: 500)]
        for round in 0..<2_000 {
            var attributes: [String: String] = [:]
            for _ in 0..<Int(random.next() % 4) { attributes[pick(["sales_rep", "region", "é"])] = pick(["rep3", "", "Nord"]) }
            let activity = (0..<Int(random.next() % 14)).map { index in
                Activity(
                    id: "a\(index)", kind: pick(Activity.Kind.allCases), at: time(), actor: pick(texts), text: pick(texts), tag: pick(texts),
                    status: pick(texts), person: pick(texts), due: pick([nil, time()]), quantity: pick([nil, 0, 30, -2, Int.max]),
                    ref: pick(texts), keptBy: pick([nil] + Activity.Kind.allCases.map { $0 }))
            }
            let subject = Case(
                id: pick(["ORD-0000001", "TT-1001", "é/1"]), kind: pick(texts), status: pick(texts), owner: pick(texts), openedAt: time(),
                promisedAt: pick([nil, time()]), closedAt: pick([nil, time()]), attributes: attributes, activity: activity)
            let packed = PackedCase(subject)
            #expect(packed.unpacked() == subject, "round \(round)")
            #expect(packed.unpacked().activity.map(\.id) == subject.activity.map(\.id))
            #expect(packed.closedAt == subject.closedAt)
            let shelved = packed.shelved(on: shelf)
            #expect(shelved.unpacked() == subject && shelved.id == subject.id && shelved.closedAt == subject.closedAt, "round \(round), shelved")
        }
    }

    /// What the packing is for: a case like the benchmark's (ten rows of short text) takes well under a kilobyte.
    @Test func aTypicalCasePacksUnderAKilobyte() {
        let opened = Date(timeIntervalSince1970: 1_772_355_600)
        let activity = (0..<10).map { (index: Int) -> Activity in
            let fromCustomer = index % 2 == 0
            let at = opened.addingTimeInterval(Double(index) * 3600)
            return Activity(
                id: "ORD-0001234-\(index)", kind: fromCustomer ? .customerMessage : .internalUpdate, at: at,
                actor: fromCustomer ? "customer" : "rep3", text: "Any news on the delivery date for the order?")
        }
        let subject = Case(id: "ORD-0001234", kind: "custom-order", status: "in_production", owner: "rep3", openedAt: opened,
                           attributes: ["sales_rep": "rep7"], activity: activity)
        #expect(PackedCase(subject).size < 900, "\(PackedCase(subject).size) bytes")
    }
}
