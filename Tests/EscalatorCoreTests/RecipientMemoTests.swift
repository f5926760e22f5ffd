@testable import EscalatorCore
import Foundation
import Testing

/// The recipient memo keeps entries per owner, kind and party columns while they are found again, and stops
/// (keeps and finds nothing) when its first `trial` cases mostly have a combination of their own.
@Suite struct RecipientMemoTests {
    let rules = Rules(
        calendars: [:], directory: Directory([]),
        raci: Raci(fallback: RaciEntry(responsible: .owner, informed: [.column("sales_rep")])), policies: [])

    func subject(owner: String, salesRep: String?) -> Case {
        Case(id: "C", kind: nil, status: "open", owner: owner, openedAt: Date(timeIntervalSince1970: 0),
             attributes: salesRep.map { ["sales_rep": $0] } ?? [:])
    }

    @Test func aCombinationSeenAgainFindsItsSlotAndTheColumnTellsSlotsApart() throws {
        let memo = RecipientMemo()
        let trial = RecipientMemo.trial
        var slots: [Int?] = []
        // Four combinations over and over: owner rep8 with sales rep rep1, rep2 or none, and owner rep9 with rep1.
        let salesReps: [String?] = ["rep1", "rep2", nil, "rep1"]
        for index in 0..<(trial * 2) {
            let salesRep = salesReps[index % 4]
            let owner = index % 4 == 3 ? "rep9" : "rep8"
            slots.append(memo.slot(owner: owner, of: subject(owner: owner, salesRep: salesRep), rules: rules))
        }
        #expect(!memo.hasStopped)
        #expect(slots.allSatisfy { $0 != nil })
        #expect(Set(slots.prefix(4)).count == 4, "the sales rep's value and the owner each make a slot of their own")
        #expect(Array(slots.suffix(4)) == Array(slots.prefix(4)), "each combination finds the slot it was given first")
    }

    @Test func aMemoWhoseCasesAreMostlyNewStopsAfterItsTrial() throws {
        let memo = RecipientMemo()
        let trial = RecipientMemo.trial
        // One case in five repeats a combination: fewer than the one in four the memo needs.
        var results: [Int?] = []
        for index in 0..<(trial + 10) {
            let salesRep = index % 5 == 4 ? "rep0" : "rep\(index + 1)"
            results.append(memo.slot(owner: "rep8", of: subject(owner: "rep8", salesRep: salesRep), rules: rules))
        }
        #expect(results.prefix(trial).allSatisfy { $0 != nil })
        #expect(results.dropFirst(trial).allSatisfy { $0 == nil })
        #expect(memo.hasStopped)
    }
}
