import EscalatorCore
import EscalatorOutputs
import Foundation
import Logging

/// Writes known journal entries through escalator's real journal code, for the journald test: a breach notice,
/// a notice whose values try to inject fields, and a log line with metadata. The case id is the first argument.
@main
struct JournalProbe {
    static func main() {
        let caseID = CommandLine.arguments.dropFirst().first ?? "PROBE-1"
        let writer = EventWriter(mode: .journal)
        let due = Date(timeIntervalSince1970: 1_772_676_000)
        func notice(_ trigger: Notice.Trigger, step: Int, subject: String?) -> Notice {
            Notice(
                id: "\(caseID)/promised-delivery/promised_at-1772676000.1/step\(step)", caseID: caseID, policy: "promised-delivery",
                measure: "deadline", occurrence: "promised_at-1772676000.1", subject: subject, subjectText: nil, step: step,
                stepCount: 4, repeatNumber: 0, trigger: trigger, dueAt: due, decidedAt: due.addingTimeInterval(600),
                to: [.init(id: "rep5", name: "Supervisor", email: "sup@trophy.example", role: "supervisor")],
                cc: [.init(id: "rep3", name: "Company Rep 3", email: "rep3@trophy.example", role: "responsible")],
                clockStart: due.addingTimeInterval(-86_400), warnAt: nil, breachAt: due, overdueSeconds: 32_400, missed: [],
                unresolved: [], template: nil)
        }
        writer.write(notice(.escalate, step: 3, subject: nil), emailMessageID: "<abc@trophy.example>")
        writer.write(notice(.escalate, step: 4, subject: "P1\nESCALATOR_CASE=INJECTED\nPRIORITY=0"), emailMessageID: nil)
        var logger = Logger(label: "escalator") { _ in JournalLogHandler(writer: writer) }
        logger[metadataKey: "case"] = "\(caseID)"
        logger.warning("source down: connection refused", metadata: ["message_id": "\(EventID.sourceDown.messageID)", "source": "postgres"])
    }
}
