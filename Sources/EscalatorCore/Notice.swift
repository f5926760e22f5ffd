import Foundation

/// One decision of the engine: "case X, policy P, step 2: to supervisor S, cc owner O". Every output renders notices.
///
/// `id` is stable: the same case, policy, occurrence and step always give the same id, so outputs can use it to
/// deliver each notice exactly once.
public struct Notice: Sendable, Hashable, Codable {
    public enum Trigger: String, Sendable, Codable, CaseIterable {
        case warn, breach, escalate
        case `repeat`
        case clear
        case catchUp = "catch-up"
    }

    /// A resolved recipient.
    public struct Addressee: Sendable, Hashable, Codable {
        public let id: String
        public let name: String
        public let email: String
        /// The role through which the person was reached ("supervisor"), or "person" when named directly.
        public let role: String

        public init(id: String, name: String, email: String, role: String) {
            self.id = id
            self.name = name
            self.email = email
            self.role = role
        }
    }

    /// A step that came due while nobody was looking and is reported inside a catch-up notice.
    public struct MissedStep: Sendable, Hashable, Codable {
        public let step: Int
        public let repeatNumber: Int
        public let dueAt: Date

        public init(step: Int, repeatNumber: Int, dueAt: Date) {
            self.step = step
            self.repeatNumber = repeatNumber
            self.dueAt = dueAt
        }
    }

    public let id: String
    public let caseID: String
    public let policy: String
    public let measure: String
    /// The occurrence of the policy's condition on this case, e.g. "since-1772433000.1" or "promise-P3.1".
    public let occurrence: String
    /// The promise or obligation the occurrence is about, if any.
    public let subject: String?
    public let subjectText: String?
    /// The ladder step, 1-based; 0 for a clear notice.
    public let step: Int
    public let stepCount: Int
    /// 0 for the step itself, N for its Nth repeat.
    public let repeatNumber: Int
    public let trigger: Trigger
    /// When the step fell due (after any quiet-hours hold).
    public let dueAt: Date
    /// The instant the engine decided it.
    public let decidedAt: Date
    public let to: [Addressee]
    public let cc: [Addressee]
    public let clockStart: Date
    public let warnAt: Date?
    public let breachAt: Date?
    /// Working seconds past the breach at `decidedAt`; negative while the breach is still ahead.
    public let overdueSeconds: Int
    public let missed: [MissedStep]
    /// Roles that resolved to nobody for this case (e.g. "supervisor of rep9").
    public let unresolved: [String]
    /// The template named by the step, if it overrides the policy's.
    public let template: String?

    public init(
        id: String, caseID: String, policy: String, measure: String, occurrence: String, subject: String?,
        subjectText: String?, step: Int, stepCount: Int, repeatNumber: Int, trigger: Trigger, dueAt: Date, decidedAt: Date,
        to: [Addressee], cc: [Addressee], clockStart: Date, warnAt: Date?, breachAt: Date?, overdueSeconds: Int,
        missed: [MissedStep], unresolved: [String], template: String?
    ) {
        self.id = id
        self.caseID = caseID
        self.policy = policy
        self.measure = measure
        self.occurrence = occurrence
        self.subject = subject
        self.subjectText = subjectText
        self.step = step
        self.stepCount = stepCount
        self.repeatNumber = repeatNumber
        self.trigger = trigger
        self.dueAt = dueAt
        self.decidedAt = decidedAt
        self.to = to
        self.cc = cc
        self.clockStart = clockStart
        self.warnAt = warnAt
        self.breachAt = breachAt
        self.overdueSeconds = overdueSeconds
        self.missed = missed
        self.unresolved = unresolved
        self.template = template
    }

    /// The level reached: the step number, or 0 for a clear.
    public var level: Int { step }
}

/// The durable escalation state of one case: what happened per policy occurrence, and acknowledgements.
public struct EscalationState: Sendable, Hashable, Codable {
    /// One step taken in an occurrence.
    public struct TakenStep: Sendable, Hashable, Codable {
        public let step: Int
        public let repeatNumber: Int
        public let dueAt: Date
        public let takenAt: Date
        /// The notice sent for it; nil when it was folded into a catch-up notice.
        public let noticeID: String?

        public init(step: Int, repeatNumber: Int, dueAt: Date, takenAt: Date, noticeID: String?) {
            self.step = step
            self.repeatNumber = repeatNumber
            self.dueAt = dueAt
            self.takenAt = takenAt
            self.noticeID = noticeID
        }
    }

    /// One run of a policy's condition on the case, from first notice to clear.
    public struct Occurrence: Sendable, Hashable, Codable {
        public let policy: String
        /// The clock's identity within the policy (derived from the case's data).
        public let clock: String
        public let ordinal: Int
        public let subject: String?
        public let startedAt: Date
        public var breachAt: Date?
        public var taken: [TakenStep]
        /// Everyone notified so far, by directory id.
        public var notified: [String]
        public var clearedAt: Date?

        public init(
            policy: String, clock: String, ordinal: Int, subject: String?, startedAt: Date, breachAt: Date?,
            taken: [TakenStep], notified: [String], clearedAt: Date?
        ) {
            self.policy = policy
            self.clock = clock
            self.ordinal = ordinal
            self.subject = subject
            self.startedAt = startedAt
            self.breachAt = breachAt
            self.taken = taken
            self.notified = notified
            self.clearedAt = clearedAt
        }

        public var id: String { "\(clock).\(ordinal)" }

        /// The id of the notice sent for a step (or one of its repeats) of this occurrence of a case's policy.
        public func noticeID(caseID: String, step: Int, repeatNumber: Int) -> String {
            "\(caseID)/\(policy)/\(id)/\(EscalationState.stepLabel(step: step, repeatNumber: repeatNumber))"
        }
    }

    public var occurrences: [Occurrence]
    public var acknowledgements: [Acknowledgement]

    public init(occurrences: [Occurrence] = [], acknowledgements: [Acknowledgement] = []) {
        self.occurrences = occurrences
        self.acknowledgements = acknowledgements
    }

    public static let empty = EscalationState()

    /// Nothing recorded: no occurrence and no acknowledgement. A loop does not keep such a state.
    public var isEmpty: Bool { occurrences.isEmpty && acknowledgements.isEmpty }

    /// A step's name in notice ids: `step2`, or `step4.r3` for its third repeat.
    public static func stepLabel(step: Int, repeatNumber: Int) -> String {
        repeatNumber == 0 ? "step\(step)" : "step\(step).r\(repeatNumber)"
    }
}
