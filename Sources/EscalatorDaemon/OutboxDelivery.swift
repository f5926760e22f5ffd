import EscalatorCore
import EscalatorOutputs
import EscalatorState
import Foundation

/// Delivers the outbox: each notice's email into the spool and its entry into the journal, then records that in
/// the state store.
///
/// A crash anywhere loses nothing, and never makes a second email: spool file names come from notice ids, so an
/// email written before the crash is found on the next try and only recorded. A journal entry written just
/// before a crash is written again, with the same `ESCALATOR_NOTICE_ID`.
public struct OutboxDelivery: Sendable {
    let store: StateStore
    let events: EventWriter
    let spool: MailSpool?
    let faults: FaultPoints

    public init(store: StateStore, events: EventWriter, spool: MailSpool?, faults: FaultPoints = FaultPoints()) {
        self.store = store
        self.events = events
        self.spool = spool
        self.faults = faults
    }

    public struct Report: Sendable, Equatable {
        public var emailed = 0
        public var journaled = 0
        /// The first failure met; delivery stops at a failure and is retried later.
        public var failure: String?
        public var diskFull = false
    }

    /// Delivers everything pending, in queue order, in batches of `batch`; stops at the first failure.
    public func deliver(now: Date, batch: Int = 500) throws -> Report {
        var report = Report()
        while report.failure == nil {
            let items = try store.pendingOutbox(limit: batch)
            if items.isEmpty { break }
            var emailDone: [Int64] = []
            var journalDone: [Int64] = []
            var failed: [(seq: Int64, error: String)] = []
            for item in items {
                var emailOK = item.emailDone
                if !item.emailDone {
                    if let spool, let email = item.email, let name = item.spoolName {
                        do {
                            try spool.write(name: name, contents: email)
                            emailOK = true
                            report.emailed += 1
                        } catch let error as SpoolError {
                            failed.append((item.seq, error.description))
                            report.failure = "email spool: \(error)"
                            report.diskFull = error.isDiskFull
                        }
                    } else {
                        // Mail is no longer configured (a reload removed it): the journal entry is all there is.
                        emailOK = true
                    }
                    if emailOK { emailDone.append(item.seq) }
                }
                if !item.journalDone && report.failure == nil {
                    if events.write(item.notice, emailMessageID: item.email.flatMap(Self.messageID)) {
                        journalDone.append(item.seq)
                        report.journaled += 1
                    } else {
                        failed.append((item.seq, "the journal refused the entry"))
                        report.failure = "journal: the entry was refused"
                    }
                }
                if report.failure != nil { break }
            }
            if !emailDone.isEmpty { faults.reach(.afterSpool) }
            try store.markDelivered(journal: journalDone, email: emailDone, failed: failed, at: now)
            if items.count < batch { break }
        }
        return report
    }

    /// The Message-ID header of a rendered email.
    static func messageID(_ email: String) -> String? {
        for line in email.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { return nil }
            if line.lowercased().hasPrefix("message-id:") {
                return line.dropFirst("message-id:".count).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
