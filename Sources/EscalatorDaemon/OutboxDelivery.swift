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
    let store: any EscalationStore
    let events: EventWriter
    let spool: MailSpool?
    let faults: FaultPoints

    public init(store: any EscalationStore, events: EventWriter, spool: MailSpool?, faults: FaultPoints = FaultPoints()) {
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
    public func deliver(now: Date, batch: Int = 500) async throws -> Report {
        var report = Report()
        while report.failure == nil {
            let items = try await store.pendingOutbox(limit: batch)
            if items.isEmpty { break }
            var emailDone: [Int64] = []
            var journalDone: [Int64] = []
            var failed: [(seq: Int64, error: String)] = []
            // Emails first, the whole batch with one flush to disk.
            var mailable: [StateStore.OutboxItem] = []
            for item in items where !item.emailDone {
                if spool != nil, item.email != nil, item.spoolName != nil {
                    mailable.append(item)
                } else {
                    // Mail is no longer configured (a reload removed it): the journal entry is all there is.
                    emailDone.append(item.seq)
                }
            }
            var blocked: Set<Int64> = []
            if let spool, !mailable.isEmpty {
                let result = spool.write(batch: mailable.map { ($0.spoolName!, $0.email!) })
                let stored = Set(result.stored)
                for item in mailable {
                    if stored.contains(item.spoolName!) {
                        emailDone.append(item.seq)
                        report.emailed += 1
                    } else {
                        blocked.insert(item.seq)
                    }
                }
                if let (name, error) = result.failure {
                    if let item = mailable.first(where: { $0.spoolName == name }) { failed.append((item.seq, error.description)) }
                    report.failure = "email spool: \(error)"
                    report.diskFull = error.isDiskFull
                }
            }
            // Then the journal, in queue order, for every notice whose email is safe (or that has none).
            for item in items where !item.journalDone && !blocked.contains(item.seq) {
                if events.write(item.notice, emailMessageID: item.email.flatMap(Self.messageID)) {
                    journalDone.append(item.seq)
                    report.journaled += 1
                } else {
                    failed.append((item.seq, "the journal refused the entry"))
                    report.failure = report.failure ?? "journal: the entry was refused"
                    break
                }
            }
            if !emailDone.isEmpty { faults.reach(.afterSpool) }
            try await store.markDelivered(journal: journalDone, email: emailDone, failed: failed, at: now)
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
